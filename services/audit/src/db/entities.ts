import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** One change as the audit log keeps it: a field path and its old and new values in the resource's JSON mapping. */
export interface RecordedChange {
  field: string;
  oldValue: unknown;
  newValue: unknown;
}

/** One domain event of an organization, as recorded. Its id is the event's id. */
export const AuditEventRecord = defineEntity({
  name: 'AuditEventRecord',
  tableName: 'audit_events',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    eventType: p.text(),
    actor: p.text(),
    resource: p.text(),
    occurTime: p.datetime(),
    changes: p.json<RecordedChange[]>(),
    /** The payload message exactly as the producer encoded it. */
    payload: p.blob(),
    recordedAt: p.datetime(),
  },
});
export type AuditEventRecord = InferEntity<typeof AuditEventRecord>;
