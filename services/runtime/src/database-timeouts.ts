/**
 * Limits that turn a stuck database into a clear error within seconds instead of a call that waits forever
 * (services/runtime/README.md, "No call waits forever").
 */
export interface DatabaseTimeouts {
  /** Longest wait for a pooled connection; past it the call fails UNAVAILABLE and a warning is logged. */
  acquireMs: number;
  /** statement_timeout of every application session. */
  statementMs: number;
  /** idle_in_transaction_session_timeout of every application session. */
  idleInTransactionMs: number;
  /** How often the service checks that its database answers (grpc.health NOT_SERVING when not). */
  healthIntervalMs: number;
  /** A pooled connection unused this long is closed (pools keep none open: min 0). */
  poolIdleMs: number;
  /**
   * How often the background loops that are nudged when work arrives in this process (outbox relay, mail
   * dispatcher, object deletions, exports, webhook deliveries) look anyway for work nobody announced (other
   * processes' writes, retries come due). Undefined: each loop's own default (1–5 s).
   */
  backgroundPollMs?: number;
}

export const DEFAULT_DATABASE_TIMEOUTS: DatabaseTimeouts = {
  acquireMs: 5_000,
  statementMs: 10_000,
  idleInTransactionMs: 10_000,
  healthIntervalMs: 5_000,
  poolIdleMs: 10_000,
};

/** From the DB_* variables of commonConfigShape (config.ts). */
export function databaseTimeouts(config: {
  DB_ACQUIRE_TIMEOUT_MS: number;
  DB_STATEMENT_TIMEOUT_MS: number;
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: number;
  DB_HEALTH_INTERVAL_MS: number;
  DB_POOL_IDLE_TIMEOUT_MS: number;
  BACKGROUND_POLL_INTERVAL_MS?: number | undefined;
}): DatabaseTimeouts {
  return {
    acquireMs: config.DB_ACQUIRE_TIMEOUT_MS,
    statementMs: config.DB_STATEMENT_TIMEOUT_MS,
    idleInTransactionMs: config.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    healthIntervalMs: config.DB_HEALTH_INTERVAL_MS,
    poolIdleMs: config.DB_POOL_IDLE_TIMEOUT_MS,
    backgroundPollMs: config.BACKGROUND_POLL_INTERVAL_MS,
  };
}
