import { InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';
import { decodePageToken, pageSizeOf } from '@taskmesh/runtime/paging';

/** What a caller asks of an org's audit log; empty strings and absent times mean "no filter". */
export interface AuditLogRequest {
  actor: string;
  resource: string;
  eventType: string;
  after?: Date | undefined;
  before?: Date | undefined;
  pageSize: number;
  pageToken: string;
}

/** Position after the last event served: its occur time (ISO 8601) and id, the log's sort key. */
export type AuditCursor = [occurTime: string, id: string];

/** A validated audit log query. Events are served newest first; ties on occur time are broken by id. */
export interface AuditQuery {
  orgId: string;
  actor?: string;
  resource?: string;
  eventType?: string;
  /** Inclusive lower bound on occur time. */
  after?: Date;
  /** Exclusive upper bound on occur time. */
  before?: Date;
  pageSize: number;
  cursor?: { occurTime: Date; id: string };
  /** Identifies the filters, so a page token is only accepted for the query it was issued for. */
  fingerprint: string;
}

const USER_NAME = /^users\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EVENT_TYPE = /^taskmesh\.[a-z][a-z0-9_]*\.v\d+\.[A-Z][A-Za-z0-9]*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function auditQueryOf(orgId: string, request: AuditLogRequest): AuditQuery {
  const violations: FieldViolation[] = [];
  if (request.actor && !USER_NAME.test(request.actor)) violations.push({ field: 'actor', description: 'must be users/{user}' });
  if (request.eventType && !EVENT_TYPE.test(request.eventType)) {
    violations.push({ field: 'event_type', description: 'must be a fully qualified event message name, e.g. taskmesh.org.v1.MemberRemoved' });
  }
  if (request.after && request.before && request.before.getTime() <= request.after.getTime()) {
    violations.push({ field: 'before', description: 'must be later than after' });
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  const pageSize = pageSizeOf(request.pageSize);
  const filters = {
    orgId,
    ...(request.actor ? { actor: request.actor } : {}),
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.eventType ? { eventType: request.eventType } : {}),
    ...(request.after ? { after: request.after } : {}),
    ...(request.before ? { before: request.before } : {}),
  };
  const fingerprint = JSON.stringify([orgId, request.actor, request.resource, request.eventType, request.after?.toISOString() ?? '', request.before?.toISOString() ?? '']);
  const cursor = cursorOf(decodePageToken<unknown>(request.pageToken, fingerprint));
  return { ...filters, pageSize, fingerprint, ...(cursor ? { cursor } : {}) };
}

function cursorOf(value: unknown): AuditQuery['cursor'] {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'string') {
    const occurTime = new Date(value[0]);
    if (!Number.isNaN(occurTime.getTime()) && UUID.test(value[1])) return { occurTime, id: value[1] };
  }
  throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
}

export function cursorAfter(entry: { occurTime: Date; id: string }): AuditCursor {
  return [entry.occurTime.toISOString(), entry.id];
}
