import type { AuditEvent } from '@taskmesh/gen/taskmesh/audit/v1/audit_event.js';
import type { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { TenantAwareService } from '@taskmesh/runtime/org-context';
import type { AuditLog } from '../db/audit-log.ts';
import type { AuditEventRecord } from '../db/entities.ts';
import { auditQueryOf } from '../domain/audit-query.ts';
import type { auditAccessTable } from './access-table.ts';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export function auditHandlers(auditLog: AuditLog): TenantAwareService<typeof AuditServiceService, typeof auditAccessTable> {
  return {
    async listAuditEvents(request, context) {
      const query = auditQueryOf(context.org.id, request);
      const page = await auditLog.list(context.em, query);
      return { auditEvents: page.entries.map(toAuditEvent), nextPageToken: page.nextPageToken };
    },
  };
}

function toAuditEvent(record: AuditEventRecord): AuditEvent {
  return {
    name: `organizations/${record.orgId}/auditEvents/${record.id}`,
    eventType: record.eventType,
    actor: record.actor,
    resource: record.resource,
    occurTime: record.occurTime,
    changes: record.changes.map((change) => ({ field: change.field, oldValue: change.oldValue, newValue: change.newValue })),
    eventId: record.id,
    payload: { typeUrl: TYPE_URL_PREFIX + record.eventType, value: Buffer.from(record.payload) },
  };
}
