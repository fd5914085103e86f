// Structured JSON logs: one line per event on stdout, each carrying the service, the active trace and span
// ids (so a log line leads to its trace), and never a password or token.
import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Keys whose values never reach a log line, at the top level or up to two objects deep. Both spellings:
 * protobuf fields are camelCase in generated code and may be snake_case in raw request bodies.
 */
const secretKeys = [
  ...['password', 'newPassword', 'currentPassword', 'oldPassword', 'passwordHash'],
  ...['token', 'accessToken', 'refreshToken', 'resetToken', 'idToken', 'tokenHash'],
  ...['secret', 'clientSecret', 'privateKey', 'apiKey', 'authorization', 'cookie'],
  ...['new_password', 'current_password', 'old_password', 'password_hash'],
  ...['access_token', 'refresh_token', 'reset_token', 'id_token', 'token_hash'],
  ...['client_secret', 'private_key', 'api_key'],
];

export const redactedPaths: readonly string[] = secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export type { Logger };

/**
 * The process's logger for one service. Level from LOG_LEVEL (default info). `destination` is for tests;
 * services log to stdout.
 */
export function createLogger(service: string, destination?: DestinationStream): Logger {
  const level = process.env.LOG_LEVEL?.trim() || 'info';
  if (!(level in pino.levels.values)) {
    throw new Error(`LOG_LEVEL must be one of ${Object.keys(pino.levels.values).join(', ')}; got "${level}"`);
  }
  const options = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Level names, not numbers: log stores and humans read "warn" without a lookup table.
    formatters: { level: (label: string) => ({ level: label }) },
    mixin: activeTraceIds,
    redact: { paths: [...redactedPaths], censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export interface RequestBindings {
  requestId: string;
  /** the full gRPC method or HTTP route, when known */
  method?: string;
}

/** The logger for one request: every line also carries its request id. */
export function requestLogger(base: Logger, request: RequestBindings): Logger {
  return base.child(request.method === undefined ? { requestId: request.requestId } : { ...request });
}

// Read at each log call, so a line logged inside a span (a gRPC handler, a query) names that span.
function activeTraceIds(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpanContext(context.active());
  if (span === undefined || !isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId };
}
