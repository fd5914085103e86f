import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialOrgSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { ApiTokensMigration } from './0003-api-tokens.ts';
import { UserErasureMigration } from './0004-user-erasure.ts';
import { PlatformAdministration } from './0005-platform-administration.ts';
import { OutboxRetention } from './0006-outbox-retention.ts';

/** Every migration of the org schema, in order (names are ids in the database: never rename one). */
export const orgMigrations = migrationList({
  '0001-initial': InitialOrgSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-api-tokens': ApiTokensMigration,
  '0004-user-erasure': UserErasureMigration,
  '0005-platform-administration': PlatformAdministration,
  '0006-outbox-retention': OutboxRetention,
});
