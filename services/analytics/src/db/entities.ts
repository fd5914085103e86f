import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/**
 * The real-time counters of one board and UTC day. The service reads and writes its tables in SQL (one
 * statement per batch, aggregates); the entity gives the ORM its tenant-scoped metadata.
 */
export const DailyCounterRecord = defineEntity({
  name: 'DailyCounterRecord',
  tableName: 'daily_counters',
  extends: TenantScoped,
  properties: {
    boardId: p.uuid().primary(),
    day: p.string().columnType('date').primary(),
    tasksCreated: p.integer(),
    tasksCompleted: p.integer(),
    tasksReopened: p.integer(),
    tasksMoved: p.integer(),
    shareLinkOpens: p.integer(),
  },
});
export type DailyCounterRecord = InferEntity<typeof DailyCounterRecord>;
