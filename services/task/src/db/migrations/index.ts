import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialTaskSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { ReadTaskFunction } from './0003-read-task-function.ts';
import { DropReadTaskFunction } from './0004-drop-read-task-function.ts';
import { TaskStartTime } from './0005-task-start-time.ts';
import { OutboxRetention } from './0006-outbox-retention.ts';

/** Every migration of the task schema, in order (names are ids in the database: never rename one). */
export const taskMigrations = migrationList({
  '0001-initial': InitialTaskSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-read-task-function': ReadTaskFunction,
  '0004-drop-read-task-function': DropReadTaskFunction,
  '0005-task-start-time': TaskStartTime,
  '0006-outbox-retention': OutboxRetention,
});
