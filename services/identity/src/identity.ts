import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import argon2 from 'argon2';
import type { Logger } from 'pino';
import { PasswordResetRequested, SessionEndReason, SessionsEnded, UserSignedUp } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { SESSIONS_ENDED_EVENT, type EndedSession, type EndedSessions } from '@taskmesh/runtime/ended-sessions';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, UnauthenticatedError } from '@taskmesh/runtime/errors';
import type { Mailer } from '@taskmesh/runtime/mail';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import { KnownDeviceRecord, PasswordResetRecord, RefreshTokenRecord, SessionRecord, UserRecord } from './db/entities.ts';
import {
  assertValid,
  digestToken,
  displayNameViolation,
  emailViolation,
  newSecretToken,
  normalizeEmail,
  passwordViolation,
} from './domain/credentials.ts';
import type { AbuseLimits, LogInAttempt } from './abuse-limits.ts';
import type { SigningKeys } from './signing-keys.ts';

export interface IdentitySettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  resetTokenTtlMinutes: number;
  deviceTokenTtlDays: number;
  /** Base URL of the web app, for the link in the reset mail. */
  appBaseUrl: string;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
}

export interface SignedIn {
  user: UserRecord;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  /** Set by SignUp and LogIn only. */
  deviceToken?: string;
}

/** Who asks, for the abuse limits: the client address (the rightmost x-forwarded-for entry, or the peer). */
export interface Caller {
  clientAddress: string;
}

/** Device tokens kept per user; the oldest go first. */
const MAX_DEVICES_PER_USER = 20;

/** An ended session's id is kept this long past the lifetime of its last access token (clock skew). */
const FORGET_MARGIN_MS = 60_000;

const INVALID_CREDENTIALS = 'invalid e-mail or password';

const REVOKE_REASONS: Record<SessionEndReason, string> = {
  [SessionEndReason.SESSION_END_REASON_UNSPECIFIED]: 'ended',
  [SessionEndReason.SESSION_END_REASON_LOG_OUT]: 'log out',
  [SessionEndReason.SESSION_END_REASON_LOG_OUT_EVERYWHERE]: 'log out everywhere',
  [SessionEndReason.SESSION_END_REASON_REFRESH_TOKEN_REUSE]: 'refresh token reuse',
  [SessionEndReason.SESSION_END_REASON_PASSWORD_RESET]: 'password reset',
  [SessionEndReason.UNRECOGNIZED]: 'ended',
};

/** The identity use cases. Each one opens its own EntityManager fork; none holds a transaction across I/O to other services. */
export class Identity {
  private dummyHash: Promise<string>;

  constructor(
    private readonly em: EntityManager,
    private readonly keys: SigningKeys,
    private readonly limits: AbuseLimits,
    /** This replica's list, told at once when a session ends here (other replicas learn by the event). */
    private readonly endedSessions: EndedSessions,
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

  async signUp(input: { email: string; password: string; displayName: string } & Caller): Promise<SignedIn> {
    const email = input.email.trim();
    const displayName = input.displayName.trim() || email.split('@')[0] || email;
    assertValid(
      emailViolation(email),
      passwordViolation(input.password, email),
      input.displayName.trim() ? displayNameViolation(input.displayName) : undefined,
    );
    await this.limits.admitSignUp(input.clientAddress);
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
        return { ...(await this.openSession(em, user)), deviceToken: await this.deviceTokenFor(em, user) };
      });
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) {
        throw new AlreadyExistsError('an account with this e-mail address already exists', { reason: 'EMAIL_TAKEN' });
      }
      throw err;
    }
  }

  async logIn(input: { email: string; password: string; deviceToken?: string } & Caller): Promise<SignedIn> {
    const account = normalizeEmail(input.email);
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: account });
    const device = user && input.deviceToken ? await this.knownDevice(em, user, input.deviceToken) : undefined;
    const attempt: LogInAttempt = { account, address: input.clientAddress, knownDevice: device?.id };
    await this.limits.admitLogIn(attempt);
    const valid = await argon2.verify(user?.passwordHash ?? (await this.dummyHash), input.password).catch(() => false);
    if (!user || !valid) {
      await this.limits.recordLogInFailure(attempt);
      throw new UnauthenticatedError(INVALID_CREDENTIALS, { reason: 'INVALID_CREDENTIALS' });
    }
    await this.limits.recordLogInSuccess(attempt);
    return em.transactional(async (tx) => ({
      ...(await this.openSession(tx, user)),
      deviceToken: device ? input.deviceToken! : await this.deviceTokenFor(tx, user),
    }));
  }

  /** The device a token names, when it belongs to this user and has not expired. */
  private async knownDevice(em: EntityManager, user: UserRecord, token: string): Promise<KnownDeviceRecord | undefined> {
    const device = await em.findOne(KnownDeviceRecord, { tokenHash: digestToken(token), userId: user.id });
    return device && device.expiresAt > new Date() ? device : undefined;
  }

  /** Registers a new known device of the user and returns its token. */
  private async deviceTokenFor(em: EntityManager, user: UserRecord): Promise<string> {
    const token = newSecretToken();
    const now = new Date();
    em.create(KnownDeviceRecord, {
      id: randomUUID(),
      userId: user.id,
      tokenHash: digestToken(token),
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.settings.deviceTokenTtlDays * 86_400_000),
    });
    await em.flush();
    // Clients that never keep their token would add a row per log-in: only the newest few per user count.
    await em.execute(
      `delete from known_devices where user_id = ? and id not in (select id from known_devices where user_id = ? order by created_at desc limit ${MAX_DEVICES_PER_USER})`,
      [user.id, user.id],
    );
    return token;
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
        const ended = await this.endSessions(tx, { id: session.id }, session.userId, SessionEndReason.SESSION_END_REASON_REFRESH_TOKEN_REUSE);
        return { error: 'reused' as const, sessionId: session.id, ended };
      }
      const user = await tx.findOneOrFail(UserRecord, { id: session.userId });
      return { signedIn: await this.issueTokens(tx, user, session) };
    });
    if ('signedIn' in outcome && outcome.signedIn) return outcome.signedIn;
    if (outcome.error === 'reused') {
      this.rememberEnded(outcome.ended);
      this.log.warn({ sessionId: outcome.sessionId }, 'refresh token reuse detected; session revoked');
    }
    throw new UnauthenticatedError('refresh token is invalid, expired or already used', { reason: 'REFRESH_TOKEN_INVALID' });
  }

  async logOut(refreshToken: string): Promise<void> {
    const em = this.em.fork();
    const token = await em.findOne(RefreshTokenRecord, { tokenHash: digestToken(refreshToken) });
    if (!token) return;
    const session = await em.findOne(SessionRecord, { id: token.sessionId });
    if (!session) return;
    this.rememberEnded(
      await em.transactional((tx) => this.endSessions(tx, { id: session.id }, session.userId, SessionEndReason.SESSION_END_REASON_LOG_OUT)),
    );
  }

  /** Ends every session of the caller (whose own session must still be live). */
  async logOutEverywhere(principal: Principal): Promise<void> {
    const user = await this.currentUser(principal);
    this.rememberEnded(
      await this.em
        .fork()
        .transactional((tx) => this.endSessions(tx, {}, user.id, SessionEndReason.SESSION_END_REASON_LOG_OUT_EVERYWHERE)),
    );
  }

  /**
   * Revokes the user's live sessions matching `which` and records SessionsEnded in the same transaction, so
   * every service hears of it. Returns the ended sessions, for this replica's own list.
   */
  private async endSessions(tx: EntityManager, which: { id?: string }, userId: string, reason: SessionEndReason): Promise<EndedSession[]> {
    const now = new Date();
    const rows = await tx.execute<{ id: string }[]>(
      `update sessions set revoked_at = ?, revoke_reason = ? where user_id = ? and revoked_at is null${which.id ? ' and id = ?' : ''} returning id`,
      [now, REVOKE_REASONS[reason], userId, ...(which.id ? [which.id] : [])],
    );
    if (rows.length === 0) return [];
    const forgetTime = new Date(now.getTime() + this.settings.accessTokenTtlSeconds * 1000 + FORGET_MARGIN_MS);
    const sessionIds = rows.map((r) => r.id);
    recordEvent(
      tx,
      domainEvent(SESSIONS_ENDED_EVENT, SessionsEnded, { user: `users/${userId}`, sessionIds, reason, forgetTime }, {
        resource: `users/${userId}`,
        actor: `users/${userId}`,
      }),
    );
    await tx.flush();
    return sessionIds.map((sessionId) => ({ sessionId, forgetAt: forgetTime.getTime() }));
  }

  private rememberEnded(sessions: EndedSession[]): void {
    for (const s of sessions) this.endedSessions.add(s.sessionId, s.forgetAt);
  }

  /** Sessions ended recently enough that access tokens of theirs may still be unexpired. */
  async recentlyEndedSessions(): Promise<EndedSession[]> {
    const horizon = new Date(Date.now() - this.settings.accessTokenTtlSeconds * 1000 - FORGET_MARGIN_MS);
    const rows = await this.em.fork().find(SessionRecord, { revokedAt: { $gt: horizon } }, { fields: ['id', 'revokedAt'] });
    const lifetime = this.settings.accessTokenTtlSeconds * 1000 + FORGET_MARGIN_MS;
    return rows.map((r) => ({ sessionId: r.id, forgetAt: r.revokedAt!.getTime() + lifetime }));
  }

  /** Always succeeds from the caller's point of view: whether the account exists is not revealed. */
  async requestPasswordReset(emailInput: string, caller: Caller): Promise<void> {
    assertValid(emailViolation(emailInput));
    const email = normalizeEmail(emailInput);
    // Counted whether or not the account exists; over the per-e-mail limit nothing is mailed, silently.
    if (!(await this.limits.admitPasswordReset(caller.clientAddress, email))) return;
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: email });
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
    const ended = await em.transactional(async (tx) => {
      const claimed = await tx.nativeUpdate(PasswordResetRecord, { id: reset.id, usedAt: null }, { usedAt: now });
      if (claimed === 0) {
        throw new InvalidArgumentError({ field: 'token', description: 'reset token is invalid, expired or already used' });
      }
      await tx.nativeUpdate(PasswordResetRecord, { userId: user.id, usedAt: null }, { usedAt: now });
      await tx.nativeUpdate(UserRecord, { id: user.id }, { passwordHash, updatedAt: now });
      return this.endSessions(tx, {}, user.id, SessionEndReason.SESSION_END_REASON_PASSWORD_RESET);
    });
    this.rememberEnded(ended);
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
