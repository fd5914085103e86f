import { Migration } from '@mikro-orm/migrations';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';
import { OUTBOX_TABLE_SQL } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Attachments (tenant data: filter + RLS), and two work tables that are not tenant data and carry no RLS:
 * object_deletions (object keys still to remove from the store, drained by a worker that calls the store
 * outside any transaction) and org_purges (deleted orgs whose objects go once their retention has passed).
 */
export class InitialAttachmentSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table attachments (
        id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        task_id uuid not null,
        filename text not null,
        content_type text not null,
        size_bytes bigint not null check (size_bytes >= 0),
        state text not null check (state in ('PENDING', 'READY')),
        object_key text not null unique,
        created_by uuid not null,
        create_request_id text null,
        created_at timestamptz not null,
        completed_at timestamptz null,
        unique (org_id, id)
      );
      -- ListAttachments and the per-task count: a task's attachments, oldest first.
      create index attachments_task_idx on attachments (org_id, task_id, created_at, id);
      create unique index attachments_create_request_idx on attachments (org_id, task_id, created_by, create_request_id)
        where create_request_id is not null;

      create table object_deletions (
        object_key text primary key,
        org_id uuid not null,
        enqueued_at timestamptz not null default now(),
        attempts integer not null default 0,
        next_attempt_at timestamptz not null default now()
      );
      create index object_deletions_due_idx on object_deletions (next_attempt_at);

      create table org_purges (
        org_id uuid primary key,
        due_at timestamptz not null
      );
    `);
    this.addSql(tenantRowLevelSecuritySql('attachments'));
    this.addSql(OUTBOX_TABLE_SQL);
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
  }
}
