import { Metadata, status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import { Any } from '@taskmesh/gen/google/protobuf/any.js';
import { BadRequest, ErrorInfo, RetryInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { Status } from '@taskmesh/gen/google/rpc/status.js';
import { isDatabaseUnavailable } from './database-unavailable.ts';

/**
 * Typed domain errors. Domain code throws these; one mapper (toServiceError) turns them into a canonical
 * gRPC status with google.rpc details. Anything else becomes INTERNAL with no internals leaked.
 */
export const ERROR_DOMAIN = 'taskmesh.dev';

export interface FieldViolation {
  field: string;
  description: string;
}

export abstract class DomainError extends Error {
  abstract readonly code: GrpcCode;
  /** Machine-readable reason for google.rpc.ErrorInfo, UPPER_SNAKE_CASE. */
  readonly reason: string | undefined;
  readonly metadata: Record<string, string>;
  constructor(message: string, options: { reason?: string; metadata?: Record<string, string> } = {}) {
    super(message);
    this.name = new.target.name;
    this.reason = options.reason;
    this.metadata = options.metadata ?? {};
  }
}

export class InvalidArgumentError extends DomainError {
  readonly code = GrpcCode.INVALID_ARGUMENT;
  readonly violations: FieldViolation[];
  constructor(violations: FieldViolation[] | FieldViolation, message?: string) {
    const list = Array.isArray(violations) ? violations : [violations];
    super(message ?? list.map((v) => `${v.field}: ${v.description}`).join('; '), { reason: 'INVALID_ARGUMENT' });
    this.violations = list;
  }
}

export class NotFoundError extends DomainError {
  readonly code = GrpcCode.NOT_FOUND;
  constructor(what: string) {
    super(`${what} not found`, { reason: 'NOT_FOUND' });
  }
}

export class AlreadyExistsError extends DomainError {
  readonly code = GrpcCode.ALREADY_EXISTS;
}

export class FailedPreconditionError extends DomainError {
  readonly code = GrpcCode.FAILED_PRECONDITION;
}

export class AbortedError extends DomainError {
  readonly code = GrpcCode.ABORTED;
}

export class UnauthenticatedError extends DomainError {
  readonly code = GrpcCode.UNAUTHENTICATED;
  constructor(message = 'authentication required', options: { reason?: string } = {}) {
    super(message, { reason: options.reason ?? 'UNAUTHENTICATED' });
  }
}

export class PermissionDeniedError extends DomainError {
  readonly code = GrpcCode.PERMISSION_DENIED;
  constructor(message = 'permission denied', options: { reason?: string } = {}) {
    super(message, { reason: options.reason ?? 'PERMISSION_DENIED' });
  }
}

export class ResourceExhaustedError extends DomainError {
  readonly code = GrpcCode.RESOURCE_EXHAUSTED;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { reason?: string; retryAfterMs?: number } = {}) {
    super(message, { reason: options.reason ?? 'RATE_LIMITED' });
    this.retryAfterMs = options.retryAfterMs;
  }
}

export class UnavailableError extends DomainError {
  readonly code = GrpcCode.UNAVAILABLE;
}

function packAny(typeName: string, value: Uint8Array): Any {
  return Any.fromPartial({ typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) });
}

/** Builds the google.rpc.Status details for a domain error. */
function detailsOf(err: DomainError): Any[] {
  const details: Any[] = [];
  if (err instanceof InvalidArgumentError) {
    const badRequest = BadRequest.fromPartial({
      fieldViolations: err.violations.map((v) => ({ field: v.field, description: v.description })),
    });
    details.push(packAny('google.rpc.BadRequest', BadRequest.encode(badRequest).finish()));
  }
  if (err.reason) {
    const info = ErrorInfo.fromPartial({ reason: err.reason, domain: ERROR_DOMAIN, metadata: err.metadata });
    details.push(packAny('google.rpc.ErrorInfo', ErrorInfo.encode(info).finish()));
  }
  if (err instanceof ResourceExhaustedError && err.retryAfterMs !== undefined) {
    const seconds = Math.ceil(err.retryAfterMs / 1000);
    const retry = RetryInfo.fromPartial({ retryDelay: { seconds: String(seconds), nanos: 0 } });
    details.push(packAny('google.rpc.RetryInfo', RetryInfo.encode(retry).finish()));
  }
  return details;
}

export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

/**
 * Maps anything thrown by a handler to a grpc-js ServiceError. Domain errors keep their code, message and
 * details; errors that already carry a gRPC code (from a downstream call) keep it with a generic message for
 * INTERNAL/UNKNOWN; everything else is logged with context and answered as INTERNAL "internal error".
 */
export function toServiceError(err: unknown, log: ErrorLogger, context: object = {}): Partial<ServiceError> {
  if (err instanceof DomainError) {
    const metadata = new Metadata();
    const status = Status.fromPartial({ code: err.code, message: err.message, details: detailsOf(err) });
    metadata.set('grpc-status-details-bin', Buffer.from(Status.encode(status).finish()));
    return { code: err.code, details: err.message, metadata };
  }
  if (isGrpcError(err) && err.code !== GrpcCode.INTERNAL && err.code !== GrpcCode.UNKNOWN) {
    // A downstream service already produced a canonical, safe status: pass it through unchanged.
    return { code: err.code, details: err.details, metadata: err.metadata };
  }
  if (isDatabaseUnavailable(err)) {
    // Retryable: the database is restarting or unreachable. Logged without the stack (it is not a bug).
    log.error({ ...context, err: { message: String((err as Error).message) } }, 'database unavailable');
    return { code: GrpcCode.UNAVAILABLE, details: 'the service cannot reach its database; retry shortly', metadata: new Metadata() };
  }
  log.error({ ...context, err }, 'unexpected error');
  return { code: GrpcCode.INTERNAL, details: 'internal error', metadata: new Metadata() };
}

function isGrpcError(err: unknown): err is ServiceError {
  return (
    typeof err === 'object' &&
    err !== null &&
    'code' in err &&
    typeof (err as { code: unknown }).code === 'number' &&
    'metadata' in err &&
    (err as { metadata: unknown }).metadata instanceof Metadata
  );
}

/** Decodes google.rpc.Status from a ServiceError's trailers (for tests and for callers of other services). */
export function statusDetailsOf(err: ServiceError): Status | undefined {
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (!raw) return undefined;
  return Status.decode(typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw);
}

export { GrpcCode };
