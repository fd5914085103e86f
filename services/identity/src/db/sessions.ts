import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { SessionEndReason } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import type { EndedSession, EndedSessions } from '@taskmesh/runtime/ended-sessions';
import { UnauthenticatedError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { digestToken, newSecretToken, normalizeEmail } from '../domain/credentials.ts';
import type { Passwords } from '../domain/passwords.ts';
import { sessionsEnded } from '../events/identity-events.ts';
import type { AbuseLimits, LogInAttempt } from './abuse-limits.ts';
import { KnownDeviceRecord, RefreshTokenRecord, SessionRecord, UserRecord } from './entities.ts';
import type { SigningKeys } from './signing-keys.ts';

export interface SessionSettings {
  accessTokenTtlSeconds: number;
  refreshTokenTtlDays: number;
  deviceTokenTtlDays: number;
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
  [SessionEndReason.SESSION_END_REASON_ACCOUNT_ERASED]: 'account erased',
  [SessionEndReason.UNRECOGNIZED]: 'ended',
};

/**
 * The session aggregate's use cases: log in, refresh-token rotation with reuse detection, log out, ending
 * sessions (with SessionsEnded in the same transaction), known devices. Each opens its own fork.
 */
export class Sessions {
  constructor(
    private readonly em: EntityManager,
    private readonly keys: SigningKeys,
    private readonly limits: AbuseLimits,
    private readonly passwords: Passwords,
    /** This replica's list, told at once when a session ends here (other replicas learn by the event). */
    private readonly endedSessions: EndedSessions,
    private readonly settings: SessionSettings,
    private readonly log: Logger,
  ) {}

  async logIn(input: { email: string; password: string; deviceToken?: string } & Caller): Promise<SignedIn> {
    const account = normalizeEmail(input.email);
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: account, deletedAt: null });
    const device = user && input.deviceToken ? await this.knownDevice(em, user, input.deviceToken) : undefined;
    const attempt: LogInAttempt = { account, address: input.clientAddress, knownDevice: device?.id };
    await this.limits.admitLogIn(attempt);
    const valid = await this.passwords.verify(user?.passwordHash, input.password);
    if (!user || !valid) {
      await this.limits.recordLogInFailure(attempt);
      throw new UnauthenticatedError(INVALID_CREDENTIALS, { reason: 'INVALID_CREDENTIALS' });
    }
    await this.limits.recordLogInSuccess(attempt);
    return em.transactional(async (tx) => ({
      ...(await this.open(tx, user)),
      deviceToken: device ? input.deviceToken! : await this.deviceTokenFor(tx, user),
    }));
  }

  /** The device a token names, when it belongs to this user and has not expired. */
  private async knownDevice(em: EntityManager, user: UserRecord, token: string): Promise<KnownDeviceRecord | undefined> {
    const device = await em.findOne(KnownDeviceRecord, { tokenHash: digestToken(token), userId: user.id });
    return device && device.expiresAt > new Date() ? device : undefined;
  }

  /** Registers a new known device of the user and returns its token. */
  async deviceTokenFor(em: EntityManager, user: UserRecord): Promise<string> {
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
        const ended = await this.end(tx, { id: session.id }, session.userId, SessionEndReason.SESSION_END_REASON_REFRESH_TOKEN_REUSE);
        return { error: 'reused' as const, sessionId: session.id, ended };
      }
      const user = await tx.findOneOrFail(UserRecord, { id: session.userId });
      return { signedIn: await this.issueTokens(tx, user, session) };
    });
    if ('signedIn' in outcome && outcome.signedIn) return outcome.signedIn;
    if (outcome.error === 'reused') {
      this.remember(outcome.ended);
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
    this.remember(await em.transactional((tx) => this.end(tx, { id: session.id }, session.userId, SessionEndReason.SESSION_END_REASON_LOG_OUT)));
  }

  /** Ends every session of the caller (whose own session must still be live). */
  async logOutEverywhere(principal: Principal): Promise<void> {
    const user = await this.liveUser(principal);
    this.remember(await this.em.fork().transactional((tx) => this.end(tx, {}, user.id, SessionEndReason.SESSION_END_REASON_LOG_OUT_EVERYWHERE)));
  }

  /** The signed-in user; the session must still be live (log-out and reset end access at once here). */
  async liveUser(principal: Principal): Promise<UserRecord> {
    const em = this.em.fork();
    const session = await em.findOne(SessionRecord, { id: principal.sessionId, userId: principal.userId });
    if (!session || session.revokedAt) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    const user = await em.findOne(UserRecord, { id: principal.userId, deletedAt: null });
    if (!user) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    return user;
  }

  /**
   * Revokes the user's live sessions matching `which` and records SessionsEnded in the same transaction, so
   * every service hears of it. Returns the ended sessions; pass them to remember() after the commit.
   */
  async end(tx: EntityManager, which: { id?: string }, userId: string, reason: SessionEndReason): Promise<EndedSession[]> {
    const now = new Date();
    const rows = await tx.execute<{ id: string }[]>(
      `update sessions set revoked_at = ?, revoke_reason = ? where user_id = ? and revoked_at is null${which.id ? ' and id = ?' : ''} returning id`,
      [now, REVOKE_REASONS[reason], userId, ...(which.id ? [which.id] : [])],
    );
    if (rows.length === 0) return [];
    const forgetTime = new Date(now.getTime() + this.settings.accessTokenTtlSeconds * 1000 + FORGET_MARGIN_MS);
    const sessionIds = rows.map((r) => r.id);
    recordEvent(tx, sessionsEnded(userId, sessionIds, reason, forgetTime));
    await tx.flush();
    return sessionIds.map((sessionId) => ({ sessionId, forgetAt: forgetTime.getTime() }));
  }

  /** Tells this replica's list of ended sessions at once. */
  remember(sessions: EndedSession[]): void {
    for (const s of sessions) this.endedSessions.add(s.sessionId, s.forgetAt);
  }

  /** Sessions ended recently enough that access tokens of theirs may still be unexpired. */
  async recentlyEnded(): Promise<EndedSession[]> {
    const horizon = new Date(Date.now() - this.settings.accessTokenTtlSeconds * 1000 - FORGET_MARGIN_MS);
    const rows = await this.em.fork().find(SessionRecord, { revokedAt: { $gt: horizon } }, { fields: ['id', 'revokedAt'] });
    const lifetime = this.settings.accessTokenTtlSeconds * 1000 + FORGET_MARGIN_MS;
    return rows.map((r) => ({ sessionId: r.id, forgetAt: r.revokedAt!.getTime() + lifetime }));
  }

  /** A new session of the user, with its first tokens, in the caller's transaction. */
  async open(em: EntityManager, user: UserRecord): Promise<SignedIn> {
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
