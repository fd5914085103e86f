import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { emailDigest } from '@taskmesh/runtime/email-addresses';
import { AlreadyExistsError, FailedPreconditionError, UnavailableError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { SessionEndReason } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import { assertValid, displayNameViolation, emailViolation, normalizeEmail, passwordViolation } from '../domain/credentials.ts';
import type { Passwords } from '../domain/passwords.ts';
import { userErased, userSignedUp } from '../events/identity-events.ts';
import { LOGIN_LIMIT_KEYS_OF_ADDRESS_SQL, type AbuseLimits } from './abuse-limits.ts';
import { UserRecord } from './entities.ts';
import type { Caller, Sessions, SignedIn } from './sessions.ts';

/** How an erased account is shown wherever it stays the author of something (comments, audit entries). */
export const ERASED_DISPLAY_NAME = 'Deleted user';

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

  /**
   * Erases the caller's account. Refused (LAST_OWNER) while they are the only OWNER of an organization, as
   * the org service answers before the transaction. Then, in one transaction: every session ends
   * (SessionsEnded), the row keeps only its id (no address, name or password hash), devices, reset tokens,
   * refresh tokens and log-in counters of the address go, the address is blanked in the outbox's sign-up
   * events, and UserErased tells every other service to drop its copies.
   */
  async erase(principal: Principal, soleOwnerships: (userId: string) => Promise<string[]>): Promise<void> {
    const user = await this.currentUser(principal);
    let owned: string[];
    try {
      owned = await soleOwnerships(user.id);
    } catch {
      throw new UnavailableError('the account cannot be erased right now; try again');
    }
    if (owned.length > 0) {
      throw new FailedPreconditionError('you are the last owner of an organization: make someone else an owner, or delete it, first', {
        reason: 'LAST_OWNER',
        metadata: { organizations: owned.join(',') },
      });
    }
    const now = new Date();
    const ended = await this.em.fork().transactional(async (tx) => {
      const ended = await this.sessions.end(tx, {}, user.id, SessionEndReason.SESSION_END_REASON_ACCOUNT_ERASED);
      await tx.nativeUpdate(
        UserRecord,
        { id: user.id },
        { email: '', emailNormalized: `erased:${user.id}`, displayName: ERASED_DISPLAY_NAME, passwordHash: '', updatedAt: now, deletedAt: now },
      );
      await tx.execute('delete from known_devices where user_id = ?', [user.id]);
      await tx.execute('delete from password_resets where user_id = ?', [user.id]);
      await tx.execute('delete from refresh_tokens where session_id in (select id from sessions where user_id = ?)', [user.id]);
      await tx.execute(LOGIN_LIMIT_KEYS_OF_ADDRESS_SQL, [emailDigest(user.emailNormalized)]);
      const blanked = Buffer.from(userSignedUp(user.id, '', ERASED_DISPLAY_NAME).payload);
      await tx.execute("update outbox set payload = ? where type = 'taskmesh.identity.v1.UserSignedUp' and resource = ?", [blanked, `users/${user.id}`]);
      recordEvent(tx, userErased(user.id, emailDigest(user.emailNormalized)));
      await tx.flush();
      return ended;
    });
    this.sessions.remember(ended);
  }
}
