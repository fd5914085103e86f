import { Migration } from '@mikro-orm/migrations';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';
import { OUTBOX_TABLE_SQL } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Tasks and comments. Every index leads with org_id, except the full-text GIN index: a GIN index cannot lead
 * with a uuid without the btree_gin extension, which the migrations do not require; search queries still
 * filter on org_id, and RLS confines them to the org in any case.
 */
export class InitialTaskSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table tasks (
        id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        list_id uuid not null,
        -- Order keys compare as byte strings, whatever the database's default collation.
        position text collate "C" not null,
        title text not null check (char_length(title) between 1 and 500),
        description text not null default '' check (char_length(description) <= 20000),
        status text not null check (status in ('TODO', 'IN_PROGRESS', 'DONE')),
        priority text not null check (priority in ('LOW', 'MEDIUM', 'HIGH', 'URGENT')),
        assignees text[] not null default '{}' check (cardinality(assignees) <= 20),
        labels text[] not null default '{}' check (cardinality(labels) <= 20),
        due_time timestamptz null,
        archived boolean not null default false,
        creator_id uuid not null,
        create_request_id text null,
        version integer not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        search tsvector generated always as (
          setweight(to_tsvector('english'::regconfig, title), 'A') ||
          setweight(to_tsvector('english'::regconfig, description), 'B')
        ) stored
      );
      -- The board listing (by list, then position) and the one place a position may be taken.
      create unique index tasks_list_position_idx on tasks (org_id, list_id, position);
      create index tasks_board_order_idx on tasks (org_id, board_id, list_id, position);
      create unique index tasks_create_request_idx on tasks (org_id, create_request_id)
        where create_request_id is not null;
      create index tasks_search_idx on tasks using gin (search);
      -- Search without words: most recently updated first.
      create index tasks_recent_idx on tasks (org_id, updated_at desc, id);
      create table comments (
        id uuid primary key,
        -- Insertion order: comments list oldest first even when two share a millisecond.
        seq bigint generated always as identity,
        org_id uuid not null,
        task_id uuid not null references tasks (id) on delete cascade,
        board_id uuid not null,
        author_id uuid not null,
        body text not null check (char_length(body) between 1 and 10000),
        create_request_id text null,
        created_at timestamptz not null
      );
      create index comments_task_idx on comments (org_id, task_id, seq);
      create unique index comments_create_request_idx on comments (org_id, create_request_id)
        where create_request_id is not null;
    `);
    this.addSql(tenantRowLevelSecuritySql('tasks'));
    this.addSql(tenantRowLevelSecuritySql('comments'));
    this.addSql(OUTBOX_TABLE_SQL);
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
  }
}
