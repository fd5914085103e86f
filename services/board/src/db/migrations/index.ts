import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialBoardSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { OutboxRetention } from './0003-outbox-retention.ts';

/** Every migration of the board schema, in order (names are ids in the database: never rename one). */
export const boardMigrations = migrationList({
  '0001-initial': InitialBoardSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-outbox-retention': OutboxRetention,
});
