import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialAttachmentSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { ExportOperations } from './0003-exports.ts';
import { PendingAttachmentReaper } from './0004-pending-reaper.ts';
import { OutboxRetention } from './0005-outbox-retention.ts';
import { ExportCancel } from './0006-export-cancel.ts';

/** Every migration of the attachment schema, in order (names are ids in the database: never rename one). */
export const attachmentMigrations = migrationList({
  '0001-initial': InitialAttachmentSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-exports': ExportOperations,
  '0004-pending-reaper': PendingAttachmentReaper,
  '0005-outbox-retention': OutboxRetention,
  '0006-export-cancel': ExportCancel,
});
