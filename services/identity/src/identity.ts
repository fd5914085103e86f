import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import argon2 from 'argon2';
import type { Logger } from 'pino';
import { PasswordResetRequested, UserSignedUp } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, UnauthenticatedError } from '@taskmesh/runtime/errors';
import type { Mailer } from '@taskmesh/runtime/mail';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import { PasswordResetRecord, RefreshTokenRecord, SessionRecord, UserRecord } from './db/entities.ts';
import {
  assertValid,
  digestToken,
  displayNameViolation,
  emailViolation,
  newSecretToken,
  normalizeEmail,
  passwordViolation,
} from './domain/credentials.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { SigningKeys } from './signing-keys.ts';

export interface IdentitySettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  resetTokenTtlMinutes: number;
  /** Base URL of the web app, for the link in the reset mail. */
  appBaseUrl: string;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
}

export interface SignedIn {
  user: UserRecord;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

const INVALID_CREDENTIALS = 'invalid e-mail or password';

/** The identity use cases. Each one opens its own EntityManager fork; none holds a transaction across I/O to other services. */
export class Identity {
  private dummyHash: Promise<string>;

  constructor(
    private readonly em: EntityManager,
    private readonly keys: SigningKeys,
    private readonly throttle: LoginThrottle,
    private readonly mailer: Mailer,
    private readonly settings: IdentitySettings,
    private readonly log: Logger,
  ) {
    // Verified against when the e-mail is unknown, so both failures cost the same argon2 work.
    this.dummyHash = this.hashPassword(newSecretToken());
  }

  private hashPassword(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.settings.argon2 });
  }

  async signUp(input: { email: string; password: string; displayName: string }): Promise<SignedIn> {
    const email = input.email.trim();
    const displayName = input.displayName.trim() || email.split('@')[0] || email;
    assertValid(
      emailViolation(email),
      passwordViolation(input.password, email),
      input.displayName.trim() ? displayNameViolation(input.displayName) : undefined,
    );
    const passwordHash = await this.hashPassword(input.password);
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
        recordEvent(
          em,
          domainEvent('taskmesh.identity.v1.UserSignedUp', UserSignedUp, { user: `users/${id}`, email, displayName }, {
            resource: `users/${id}`,
            actor: `users/${id}`,
          }),
        );
        await em.flush();
        return this.openSession(em, user);
      });
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        throw new AlreadyExistsError('an account with this e-mail address already exists', { reason: 'EMAIL_TAKEN' });
      }
      throw err;
    }
  }

  async logIn(input: { email: string; password: string; clientAddress: string }): Promise<SignedIn> {
    const accountKey = normalizeEmail(input.email);
    await this.throttle.admit(accountKey, input.clientAddress);
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: accountKey });
    const valid = await argon2.verify(user?.passwordHash ?? (await this.dummyHash), input.password).catch(() => false);
    if (!user || !valid) {
      await this.throttle.recordFailure(accountKey);
      throw new UnauthenticatedError(INVALID_CREDENTIALS, { reason: 'INVALID_CREDENTIALS' });
    }
    await this.throttle.recordSuccess(accountKey);
    return em.transactional((tx) => this.openSession(tx, user));
  }

  /** Rotates a refresh token. A spent token presented again means it leaked: the whole session is revoked. */
  async refresh(refreshToken: string): Promise<SignedIn> {
    const em = this.em.fork();
    const tokenHash = digestToken(refreshToken);
    const outcome = await em.transactional(async (tx) => {
      const token = await tx.findOne(RefreshTokenRecord, { tokenHash });
      if (!token) return { error: 'unknown' as const };
      const session = await tx.findOne(SessionRecord, { id: token.sessionId });
      const now = new Date();
      if (!session || session.revokedAt || session.expiresAt <= now || token.expiresAt <= now) {
        return { error: 'ended' as const };
      }
      // Conditional update: of two concurrent refreshes with one token, exactly one wins.
      const claimed = await tx.nativeUpdate(RefreshTokenRecord, { id: token.id, spentAt: null }, { spentAt: now });
      if (claimed === 0) {
        await tx.nativeUpdate(SessionRecord, { id: session.id, revokedAt: null }, { revokedAt: now, revokeReason: 'refresh token reuse' });
        return { error: 'reused' as const, sessionId: session.id };
      }
      const user = await tx.findOneOrFail(UserRecord, { id: session.userId });
      return { signedIn: await this.issueTokens(tx, user, session) };
    });
    if ('signedIn' in outcome && outcome.signedIn) return outcome.signedIn;
    if (outcome.error === 'reused') {
      this.log.warn({ sessionId: outcome.sessionId }, 'refresh token reuse detected; session revoked');
    }
    throw new UnauthenticatedError('refresh token is invalid, expired or already used', { reason: 'REFRESH_TOKEN_INVALID' });
  }

  async logOut(refreshToken: string): Promise<void> {
    const em = this.em.fork();
    const token = await em.findOne(RefreshTokenRecord, { tokenHash: digestToken(refreshToken) });
    if (!token) return;
    await em.nativeUpdate(SessionRecord, { id: token.sessionId, revokedAt: null }, { revokedAt: new Date(), revokeReason: 'log out' });
  }

  /** Always succeeds from the caller's point of view: whether the account exists is not revealed. */
  async requestPasswordReset(emailInput: string): Promise<void> {
    assertValid(emailViolation(emailInput));
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: normalizeEmail(emailInput) });
    if (!user) return;
    const token = newSecretToken();
    const now = new Date();
    await em.transactional(async (tx) => {
      tx.create(PasswordResetRecord, {
        id: randomUUID(),
        userId: user.id,
        tokenHash: digestToken(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + this.settings.resetTokenTtlMinutes * 60_000),
        usedAt: null,
      });
      recordEvent(
        tx,
        domainEvent('taskmesh.identity.v1.PasswordResetRequested', PasswordResetRequested, { user: `users/${user.id}` }, {
          resource: `users/${user.id}`,
          actor: `users/${user.id}`,
        }),
      );
    });
    const link = `${this.settings.appBaseUrl.replace(/\/$/, '')}/reset-password?token=${encodeURIComponent(token)}`;
    // Mailed after commit and not awaited by the caller's response path timing-wise beyond this point.
    this.mailer
      .send({
        to: user.email,
        subject: 'Reset your Taskmesh password',
        text: `Someone asked to reset the password of your Taskmesh account.\n\nOpen this link within ${this.settings.resetTokenTtlMinutes} minutes to choose a new password:\n${link}\n\nOr use this reset token: ${token}\n\nIf it wasn't you, ignore this mail; your password stays as it is.\n`,
      })
      .catch((err: unknown) => this.log.error({ err, userId: user.id }, 'password reset mail failed'));
  }

  /** Single use; revokes every session of the user. */
  async resetPassword(token: string, newPassword: string): Promise<void> {
    const em = this.em.fork();
    const reset = await em.findOne(PasswordResetRecord, { tokenHash: digestToken(token) });
    const now = new Date();
    if (!reset || reset.usedAt || reset.expiresAt <= now) {
      throw new InvalidArgumentError({ field: 'token', description: 'reset token is invalid, expired or already used' });
    }
    const user = await em.findOneOrFail(UserRecord, { id: reset.userId });
    assertValid(passwordViolation(newPassword, user.email, 'new_password'));
    const passwordHash = await this.hashPassword(newPassword);
    await em.transactional(async (tx) => {
      const claimed = await tx.nativeUpdate(PasswordResetRecord, { id: reset.id, usedAt: null }, { usedAt: now });
      if (claimed === 0) {
        throw new InvalidArgumentError({ field: 'token', description: 'reset token is invalid, expired or already used' });
      }
      await tx.nativeUpdate(PasswordResetRecord, { userId: user.id, usedAt: null }, { usedAt: now });
      await tx.nativeUpdate(UserRecord, { id: user.id }, { passwordHash, updatedAt: now });
      await tx.nativeUpdate(SessionRecord, { userId: user.id, revokedAt: null }, { revokedAt: now, revokeReason: 'password reset' });
    });
  }

  /** The signed-in user; the session must still be live (log-out and reset end access at once here). */
  async currentUser(principal: Principal): Promise<UserRecord> {
    const em = this.em.fork();
    const session = await em.findOne(SessionRecord, { id: principal.sessionId, userId: principal.userId });
    if (!session || session.revokedAt) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    const user = await em.findOne(UserRecord, { id: principal.userId });
    if (!user) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    return user;
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

  async usersByIds(ids: string[]): Promise<UserRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.em.fork().find(UserRecord, { id: { $in: ids } });
    const byId = new Map(found.map((u) => [u.id, u]));
    return ids.map((id) => byId.get(id)).filter((u): u is UserRecord => u !== undefined);
  }

  async userById(id: string): Promise<UserRecord> {
    const [user] = await this.usersByIds([id]);
    if (!user) throw new NotFoundError(`users/${id}`);
    return user;
  }

  private async openSession(em: EntityManager, user: UserRecord): Promise<SignedIn> {
    const now = new Date();
    const session = em.create(SessionRecord, {
      id: randomUUID(),
      userId: user.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.settings.refreshTokenTtlDays * 86_400_000),
      revokedAt: null,
      revokeReason: null,
    });
    // Ids are plain columns, not ORM relations, so the unit of work can't order the inserts: flush the session first.
    await em.flush();
    return this.issueTokens(em, user, session);
  }

  private async issueTokens(em: EntityManager, user: UserRecord, session: SessionRecord): Promise<SignedIn> {
    const refreshToken = newSecretToken();
    const now = new Date();
    // Each rotation gives the new token (and so the session) a fresh 30-day life.
    const expiresAt = new Date(now.getTime() + this.settings.refreshTokenTtlDays * 86_400_000);
    session.expiresAt = expiresAt;
    em.create(RefreshTokenRecord, {
      id: randomUUID(),
      sessionId: session.id,
      tokenHash: digestToken(refreshToken),
      createdAt: now,
      expiresAt,
      spentAt: null,
    });
    await em.flush();
    const accessToken = await this.keys.sign({ userId: user.id, sessionId: session.id });
    return { user, accessToken, refreshToken, expiresIn: this.settings.accessTokenTtlSeconds };
  }
}
