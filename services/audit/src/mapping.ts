import type { AuditEvent } from '@taskmesh/gen/taskmesh/audit/v1/audit_event.js';
import type { AuditEventRecord } from './db/entities.ts';

// The audit service's one mapping: records to the messages of its API.

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const auditEventName = (orgId: string, id: string) => `organizations/${orgId}/auditEvents/${id}`;

/** An entry as served: the original event's payload rides along as an Any of its own type. */
export function toAuditEvent(record: AuditEventRecord): AuditEvent {
  return {
    name: auditEventName(record.orgId, record.id),
    eventType: record.eventType,
    actor: record.actor,
    resource: record.resource,
    occurTime: record.occurTime,
    changes: record.changes.map((change) => ({ field: change.field, oldValue: change.oldValue, newValue: change.newValue })),
    eventId: record.id,
    payload: { typeUrl: TYPE_URL_PREFIX + record.eventType, value: Buffer.from(record.payload) },
  };
}
