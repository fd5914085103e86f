/**
 * Recognises database failures that are about availability, not about the request: the pool had no free
 * connection within DB_ACQUIRE_TIMEOUT_MS, the server refused or dropped the connection, or a statement ran
 * past DB_STATEMENT_TIMEOUT_MS. errors.ts answers them UNAVAILABLE / DEADLINE_EXCEEDED instead of INTERNAL.
 */
export interface DatabaseFailure {
  kind: 'unavailable' | 'deadline';
  /** For the log line: what happened, without SQL or parameters. */
  reason: string;
}

// Connection exceptions (08), operator intervention (57P01-57P05), insufficient resources (53).
const unavailableSqlStates = /^(08|53|57P0)/;
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'ENOTCONN', 'EAI_AGAIN']);
// node-postgres reports a connection lost mid-query or a broken client by message only.
const lostConnectionMessages = ['Connection terminated', 'Client has encountered a connection error and is not queryable', 'Connection is closed'];

export function databaseFailure(err: unknown): DatabaseFailure | undefined {
  for (let current = err, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const e = current as { message?: unknown; code?: unknown; cause?: unknown; name?: unknown };
    const message = typeof e.message === 'string' ? e.message : '';
    const code = typeof e.code === 'string' ? e.code : '';
    if (message === 'timeout exceeded when trying to connect') {
      return { kind: 'unavailable', reason: 'no pooled database connection became free within the acquire timeout' };
    }
    if (code === '57014' && message.includes('statement timeout')) {
      return { kind: 'deadline', reason: 'statement ran past the statement timeout' };
    }
    if (code === '25P03') return { kind: 'unavailable', reason: 'transaction closed by the idle-in-transaction timeout' };
    if (unavailableSqlStates.test(code)) return { kind: 'unavailable', reason: `database refused the session (${code})` };
    if (networkCodes.has(code)) return { kind: 'unavailable', reason: `database unreachable (${code})` };
    if (e.name === 'ConnectionException' || lostConnectionMessages.some((m) => message.includes(m))) {
      return { kind: 'unavailable', reason: 'database connection lost' };
    }
    current = e.cause;
  }
  return undefined;
}
