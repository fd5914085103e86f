import type { Pool } from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import { ResourceExhaustedError } from '@taskmesh/runtime/errors';
import { initLoginCounters, recordLoginFailure, recordLoginThrottled } from './login-metrics.ts';

export interface LoginThrottleSettings {
  /** Failed log-ins allowed per account within the window. */
  maxFailuresPerAccount: number;
  /** Log-in attempts allowed per client address within the window. */
  maxAttemptsPerAddress: number;
  windowSeconds: number;
}

/**
 * Log-in throttling per account and per client address, with counters in PostgreSQL (rate-limiter-flexible)
 * so every replica shares them. Only failures count against an account; every attempt counts against an
 * address.
 */
export class LoginThrottle {
  private readonly byAccount: RateLimiterPostgres;
  private readonly byAddress: RateLimiterPostgres;

  constructor(pool: Pool, schema: string, private readonly settings: LoginThrottleSettings) {
    initLoginCounters();
    const common = { storeClient: pool, storeType: 'pool', schemaName: schema, tableName: 'login_limits', tableCreated: true };
    this.byAccount = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'account',
      points: settings.maxFailuresPerAccount,
      duration: settings.windowSeconds,
    });
    this.byAddress = new RateLimiterPostgres({
      ...common,
      keyPrefix: 'address',
      points: settings.maxAttemptsPerAddress,
      duration: settings.windowSeconds,
    });
  }

  /** Throws RESOURCE_EXHAUSTED when either limit is spent; counts the attempt against the address. */
  async admit(accountKey: string, address: string): Promise<void> {
    const account = await this.byAccount.get(accountKey);
    if (account && account.consumedPoints >= this.settings.maxFailuresPerAccount) {
      recordLoginThrottled('account');
      throw tooMany(account.msBeforeNext);
    }
    try {
      await this.byAddress.consume(address);
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        recordLoginThrottled('address');
        throw tooMany(err.msBeforeNext);
      }
      throw err;
    }
  }

  async recordFailure(accountKey: string): Promise<void> {
    recordLoginFailure();
    try {
      await this.byAccount.consume(accountKey);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
    }
  }

  async recordSuccess(accountKey: string): Promise<void> {
    await this.byAccount.delete(accountKey);
  }
}

function tooMany(msBeforeNext: number): ResourceExhaustedError {
  return new ResourceExhaustedError('too many log-in attempts; try again later', {
    reason: 'LOGIN_THROTTLED',
    retryAfterMs: msBeforeNext,
  });
}
