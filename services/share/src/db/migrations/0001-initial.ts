import { Migration } from '@mikro-orm/migrations';
import { SuspendedOrganizations } from './0003-suspended-organizations.ts';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';
import { OUTBOX_TABLE_SQL, outboxTraceContextMigration } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Share links, the code → org index the public read starts from, the read model of shared tasks (with the
 * display names of their boards and lists), tombstones of deleted tasks and boards (so a link created while
 * its task is being deleted is refused), the wrong-password counters, the outbox and processed events.
 */
export class InitialShareSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table share_links (
        id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        task_id uuid not null,
        code_hash text not null unique,
        password_hash text null,
        expires_at timestamptz not null,
        revoked_at timestamptz null,
        open_count integer not null default 0,
        created_by uuid not null,
        create_request_id text null,
        created_at timestamptz not null
      );
      create index share_links_task_idx on share_links (org_id, task_id, created_at desc, id desc) where revoked_at is null;
      create index share_links_board_idx on share_links (org_id, board_id);
      create unique index share_links_create_request_idx on share_links (org_id, created_by, create_request_id)
        where create_request_id is not null;

      create table share_codes (
        code_hash text primary key,
        org_id uuid not null
      );
      create index share_codes_org_idx on share_codes (org_id);

      create table shared_tasks (
        task_id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        list_id uuid not null,
        title text not null,
        description text not null,
        status integer not null,
        priority integer not null,
        due_time timestamptz null,
        labels jsonb not null,
        task_updated_at timestamptz not null
      );
      create index shared_tasks_org_board_idx on shared_tasks (org_id, board_id);

      create table shared_places (
        id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        kind text not null check (kind in ('board', 'list')),
        display_name text not null
      );
      create index shared_places_org_board_idx on shared_places (org_id, board_id);

      create table removed_resources (
        id uuid primary key,
        org_id uuid not null,
        removed_at timestamptz not null default now()
      );

      -- Wrong-password counters (rate-limiter-flexible's table layout), shared by every replica.
      create table open_limits (
        key varchar(255) primary key,
        points integer not null default 0,
        expire bigint
      );
    `);
    for (const table of ['share_links', 'shared_tasks', 'shared_places', 'removed_resources']) {
      this.addSql(tenantRowLevelSecuritySql(table));
    }
    this.addSql(OUTBOX_TABLE_SQL);
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
  }
}

export const shareMigrations = [
  { name: '0001-initial', class: InitialShareSchema },
  outboxTraceContextMigration,
  { name: '0003-suspended-organizations', class: SuspendedOrganizations },
];
