import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { AlreadyExistsError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { assertValid, displayNameViolation, emailViolation, normalizeEmail, passwordViolation } from '../domain/credentials.ts';
import type { Passwords } from '../domain/passwords.ts';
import { userSignedUp } from '../events/identity-events.ts';
import type { AbuseLimits } from './abuse-limits.ts';
import { UserRecord } from './entities.ts';
import type { Caller, Sessions, SignedIn } from './sessions.ts';

/** The user aggregate's use cases: sign-up (which opens the first session), the profile, lookups by id. */
export class Users {
  constructor(
    private readonly em: EntityManager,
    private readonly sessions: Sessions,
    private readonly limits: AbuseLimits,
    private readonly passwords: Passwords,
  ) {}

  async signUp(input: { email: string; password: string; displayName: string } & Caller): Promise<SignedIn> {
    const email = input.email.trim();
    const displayName = input.displayName.trim() || email.split('@')[0] || email;
    assertValid(
      emailViolation(email),
      passwordViolation(input.password, email),
      input.displayName.trim() ? displayNameViolation(input.displayName) : undefined,
    );
    await this.limits.admitSignUp(input.clientAddress);
    const passwordHash = await this.passwords.hash(input.password);
    const now = new Date();
    const id = randomUUID();
    try {
      return await this.em.fork().transactional(async (em) => {
        const user = em.create(UserRecord, {
          id,
          email,
          emailNormalized: normalizeEmail(email),
          displayName,
          passwordHash,
          createdAt: now,
          updatedAt: now,
        });
        recordEvent(em, userSignedUp(id, email, displayName));
        await em.flush();
        return { ...(await this.sessions.open(em, user)), deviceToken: await this.sessions.deviceTokenFor(em, user) };
      });
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        throw new AlreadyExistsError('an account with this e-mail address already exists', { reason: 'EMAIL_TAKEN' });
      }
      throw err;
    }
  }

  /** The signed-in user; the session must still be live. */
  currentUser(principal: Principal): Promise<UserRecord> {
    return this.sessions.liveUser(principal);
  }

  async updateCurrentUser(principal: Principal, changes: { displayName?: string }): Promise<UserRecord> {
    const user = await this.currentUser(principal);
    if (changes.displayName === undefined) return user;
    assertValid(displayNameViolation(changes.displayName, 'user.display_name'));
    const em = this.em.fork();
    const updatedAt = new Date();
    const displayName = changes.displayName.trim();
    await em.nativeUpdate(UserRecord, { id: user.id }, { displayName, updatedAt });
    return { ...user, displayName, updatedAt };
  }

  /** Users in the order of `ids`; unknown ids are left out. */
  async byIds(ids: string[]): Promise<UserRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.em.fork().find(UserRecord, { id: { $in: ids } });
    const byId = new Map(found.map((u) => [u.id, u]));
    return ids.map((id) => byId.get(id)).filter((u): u is UserRecord => u !== undefined);
  }

}
