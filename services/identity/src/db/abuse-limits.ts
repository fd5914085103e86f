import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { emailDigest } from '@taskmesh/runtime/email-addresses';
import { ResourceExhaustedError } from '@taskmesh/runtime/errors';
import { initLoginCounters, recordLoginFailure, recordLoginThrottled } from '../login-metrics.ts';

export interface AbuseLimitSettings {
  /** Failures of one (account, address) pair, or one known device, before delays start. */
  loginFreeFailuresPerPair: number;
  /** Failures of one account, from anywhere but its known devices, before unknown clients are slowed. */
  loginMaxFailuresPerAccount: number;
  /** Failed log-ins from one address (all accounts) within the window before that address is refused. */
  loginMaxFailuresPerAddress: number;
  /** The first delay; each further failure doubles it. */
  loginDelayBaseSeconds: number;
  /** Longest delay of a pair or device. */
  loginMaxDelaySeconds: number;
  /** Longest delay the account ceiling imposes on unknown clients (short: the owner may be one of them). */
  loginAccountMaxDelaySeconds: number;
  /** How long failures are remembered. */
  loginWindowSeconds: number;
  signUpMaxPerAddress: number;
  resetMaxPerAddress: number;
  resetMaxPerEmail: number;
}

/** Who is trying to log in: the account (normalized e-mail), the client address, and a known device if any. */
export interface LogInAttempt {
  account: string;
  address: string;
  /** Id of a valid device token of this account, when the client presented one. */
  knownDevice?: string | undefined;
}

const HOUR = 3600;

/**
 * The identity service's abuse limits (OWASP ASVS V2.2), with counters in PostgreSQL (rate-limiter-flexible)
 * so every replica shares them. No limit locks an account: failures slow the (account, address) pair that
 * made them with growing delays; an account attacked from many addresses slows unknown clients for a short
 * while, but a client presenting a device token of that account is counted on its own and never waits for
 * a stranger's failures.
 */
export class AbuseLimits {
  private readonly pairFailures: RateLimiterPostgres;
  private readonly pairDelay: RateLimiterPostgres;
  private readonly accountFailures: RateLimiterPostgres;
  private readonly accountDelay: RateLimiterPostgres;
  private readonly addressFailures: RateLimiterPostgres;
  private readonly signUps: RateLimiterPostgres;
  private readonly resetsByAddress: RateLimiterPostgres;
  private readonly resetsByEmail: RateLimiterPostgres;

  constructor(pool: Pool, schema: string, private readonly settings: AbuseLimitSettings) {
    initLoginCounters();
    const limiter = (keyPrefix: string, points: number, duration: number) =>
      new RateLimiterPostgres({
        storeClient: pool,
        storeType: 'pool',
        schemaName: schema,
        tableName: 'login_limits',
        tableCreated: true,
        keyPrefix,
        points,
        duration,
      });
    const window = settings.loginWindowSeconds;
    // Failure counters only count (penalty) and are read; the delays are blocks set after a failure.
    this.pairFailures = limiter('pair', Number.MAX_SAFE_INTEGER, window);
    this.pairDelay = limiter('pair-delay', 1, window);
    this.accountFailures = limiter('account', Number.MAX_SAFE_INTEGER, window);
    this.accountDelay = limiter('account-delay', 1, window);
    this.addressFailures = limiter('address', Number.MAX_SAFE_INTEGER, window);
    this.signUps = limiter('signup-address', settings.signUpMaxPerAddress, HOUR);
    this.resetsByAddress = limiter('reset-address', settings.resetMaxPerAddress, HOUR);
    this.resetsByEmail = limiter('reset-email', settings.resetMaxPerEmail, HOUR);
  }

  /** Throws RESOURCE_EXHAUSTED while this attempt must wait; counts nothing. */
  async admitLogIn(attempt: LogInAttempt): Promise<void> {
    const pair = await this.pairDelay.get(pairKey(attempt));
    if (pair && pair.consumedPoints > 1) {
      recordLoginThrottled('pair');
      throw loginThrottled(pair.msBeforeNext);
    }
    if (attempt.knownDevice) return;
    const [account, address] = await Promise.all([this.accountDelay.get(emailDigest(attempt.account)), this.addressFailures.get(attempt.address)]);
    if (account && account.consumedPoints > 1) {
      recordLoginThrottled('account');
      throw loginThrottled(account.msBeforeNext);
    }
    if (address && address.consumedPoints >= this.settings.loginMaxFailuresPerAddress) {
      recordLoginThrottled('address');
      throw loginThrottled(address.msBeforeNext);
    }
  }

  /** Counts a failed log-in and sets the delay the next attempt of this pair (or account) must wait. */
  async recordLogInFailure(attempt: LogInAttempt): Promise<void> {
    recordLoginFailure();
    const s = this.settings;
    const key = pairKey(attempt);
    const pair = await this.pairFailures.penalty(key);
    const pairExcess = pair.consumedPoints - s.loginFreeFailuresPerPair;
    if (pairExcess >= 0) await this.pairDelay.block(key, delaySeconds(pairExcess, s.loginDelayBaseSeconds, s.loginMaxDelaySeconds));
    if (attempt.knownDevice) return;
    const [account] = await Promise.all([
      this.accountFailures.penalty(emailDigest(attempt.account)),
      this.addressFailures.penalty(attempt.address),
    ]);
    const accountExcess = account.consumedPoints - s.loginMaxFailuresPerAccount;
    if (accountExcess >= 0) {
      await this.accountDelay.block(emailDigest(attempt.account), delaySeconds(accountExcess, s.loginDelayBaseSeconds, s.loginAccountMaxDelaySeconds));
    }
  }

  /** A successful log-in clears its pair (or device); the account's and address's counts expire on their own. */
  async recordLogInSuccess(attempt: LogInAttempt): Promise<void> {
    const key = pairKey(attempt);
    await Promise.all([this.pairFailures.delete(key), this.pairDelay.delete(key)]);
  }

  /** Counts a sign-up attempt of an address; RESOURCE_EXHAUSTED over SIGNUP_MAX_PER_ADDRESS. */
  async admitSignUp(address: string): Promise<void> {
    await consumeOrThrow(this.signUps, address, 'too many sign-ups from this address; try again later', 'SIGNUP_THROTTLED');
  }

  /**
   * Counts a password-reset request. RESOURCE_EXHAUSTED over RESET_MAX_PER_ADDRESS (whatever the e-mail, so
   * it reveals nothing about accounts); false (send no mail, answer as usual) over RESET_MAX_PER_EMAIL.
   */
  async admitPasswordReset(address: string, email: string): Promise<boolean> {
    await consumeOrThrow(this.resetsByAddress, address, 'too many password-reset requests from this address; try again later', 'RESET_THROTTLED');
    try {
      await this.resetsByEmail.consume(emailDigest(email));
      return true;
    } catch (err) {
      if (err instanceof RateLimiterRes) return false;
      throw err;
    }
  }
}

/**
 * A known device is its own key: no one else's failures slow it. Addresses enter keys only as their digest
 * (emailDigest), so the counters hold no e-mail address and an erased account's are found by it.
 */
const pairKey = (attempt: LogInAttempt) =>
  attempt.knownDevice ? `device:${attempt.knownDevice}` : `${emailDigest(attempt.account)}|${attempt.address}`;

/** Every counter of an address (its digest is in the key), for account erasure. */
export const LOGIN_LIMIT_KEYS_OF_ADDRESS_SQL = 'delete from login_limits where position(? in key) > 0';

/** base · 2^excess seconds, at most max. */
export function delaySeconds(excess: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.min(excess, 30));
}

async function consumeOrThrow(limiter: RateLimiterPostgres, key: string, message: string, reason: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) throw new ResourceExhaustedError(message, { reason, retryAfterMs: Math.max(1, err.msBeforeNext) });
    throw err;
  }
}

function loginThrottled(msBeforeNext: number): ResourceExhaustedError {
  return new ResourceExhaustedError('too many log-in attempts; try again later', {
    reason: 'LOGIN_THROTTLED',
    retryAfterMs: Math.max(1, msBeforeNext),
  });
}
