import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialShareSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { SuspendedOrganizations } from './0003-suspended-organizations.ts';
import { OutboxRetention } from './0004-outbox-retention.ts';

/** Every migration of the share schema, in order (names are ids in the database: never rename one). */
export const shareMigrations = migrationList({
  '0001-initial': InitialShareSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-suspended-organizations': SuspendedOrganizations,
  '0004-outbox-retention': OutboxRetention,
});
