import type { Pool } from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { ResourceExhaustedError } from '@taskmesh/runtime/errors';

export interface OpenThrottleSettings {
  maxFailuresPerCode: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

/**
 * Wrong passwords of share links, counted per link (its code's digest, never the code) and per client address,
 * in PostgreSQL (rate-limiter-flexible, as identity's log-in limits) so every replica shares the counts. Past
 * either ceiling every attempt is refused with RESOURCE_EXHAUSTED until the window has passed, whether the
 * password would have been right or not, so guessing gains nothing by continuing.
 */
export class OpenThrottle {
  private readonly perCode: RateLimiterPostgres;
  private readonly perAddress: RateLimiterPostgres;

  constructor(pool: Pool, schema: string, private readonly settings: OpenThrottleSettings) {
    const limiter = (keyPrefix: string) =>
      new RateLimiterPostgres({
        storeClient: pool,
        storeType: 'pool',
        schemaName: schema,
        tableName: 'open_limits',
        tableCreated: true,
        keyPrefix,
        // Counted with penalty() and compared here, never consumed.
        points: Number.MAX_SAFE_INTEGER,
        duration: settings.windowSeconds,
      });
    this.perCode = limiter('code');
    this.perAddress = limiter('address');
  }

  /** Throws RESOURCE_EXHAUSTED while this link or this address has used up its wrong passwords; counts nothing. */
  async admit(codeHash: string, address: string): Promise<void> {
    const [code, from] = await Promise.all([this.perCode.get(codeHash), this.perAddress.get(address)]);
    if (code && code.consumedPoints >= this.settings.maxFailuresPerCode) throw throttled(code.msBeforeNext);
    if (from && from.consumedPoints >= this.settings.maxFailuresPerAddress) throw throttled(from.msBeforeNext);
  }

  async recordFailure(codeHash: string, address: string): Promise<void> {
    await Promise.all([this.perCode.penalty(codeHash), this.perAddress.penalty(address)]);
  }
}

function throttled(msBeforeNext: number): ResourceExhaustedError {
  return new ResourceExhaustedError('too many wrong passwords; try again later', {
    reason: 'SHARE_OPEN_THROTTLED',
    retryAfterMs: Math.max(1, msBeforeNext),
  });
}
