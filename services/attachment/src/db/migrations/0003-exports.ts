import { Migration } from '@mikro-orm/migrations';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Organization exports: export_operations (tenant data: filter + RLS) holds each long-running operation's
 * state; export_queue (a work table like object_deletions, no RLS) holds the operations still to run, leased by
 * the worker that runs one, so an operation whose worker died is picked up again once its lease lapses.
 */
export class ExportOperations extends Migration {
  override name = '0003-exports';

  override up(): void {
    this.addSql(`
      create table export_operations (
        id uuid primary key,
        org_id uuid not null,
        requested_by uuid not null,
        state text not null check (state in ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED')),
        object_key text null,
        size_bytes bigint null,
        record_count bigint not null default 0,
        error_message text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        ended_at timestamptz null,
        archive_expires_at timestamptz null,
        unique (org_id, id)
      );
      -- ListOperations: an org's operations, newest first.
      create index export_operations_org_idx on export_operations (org_id, created_at desc, id desc);

      create table export_queue (
        operation_id uuid primary key,
        org_id uuid not null,
        enqueued_at timestamptz not null default now(),
        leased_until timestamptz not null default now(),
        attempts integer not null default 0
      );
      create index export_queue_due_idx on export_queue (leased_until);
    `);
    this.addSql(tenantRowLevelSecuritySql('export_operations'));
  }
}
