import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Boards and lists. Every index leads with org_id, because every query the service makes is bound to one org
 * (tenant filter + RLS). Lists reference their board through (org_id, board_id), so a list can never sit under
 * a board of another org, whatever the application does.
 */
export class InitialBoardSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table boards (
        id uuid primary key,
        org_id uuid not null,
        display_name text not null,
        description text not null default '',
        version integer not null,
        created_by uuid not null,
        create_request_id text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        deleted_at timestamptz null,
        unique (org_id, id)
      );
      -- ListBoards: live boards of an org, oldest first, cursor on (created_at, id).
      create index boards_org_live_idx on boards (org_id, created_at, id) where deleted_at is null;
      create unique index boards_create_request_idx on boards (org_id, created_by, create_request_id)
        where create_request_id is not null;

      create table lists (
        id uuid primary key,
        org_id uuid not null,
        board_id uuid not null,
        display_name text not null,
        position text collate "C" not null,
        version integer not null,
        created_by uuid not null,
        create_request_id text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        deleted_at timestamptz null,
        unique (org_id, id),
        foreign key (org_id, board_id) references boards (org_id, id)
      );
      -- Board order, and the guard that makes two concurrent moves into one gap end in a strict order:
      -- the second insert/update of the same key fails and is retried with a fresh key.
      create unique index lists_board_position_idx on lists (org_id, board_id, position) where deleted_at is null;
      create unique index lists_create_request_idx on lists (org_id, board_id, created_by, create_request_id)
        where create_request_id is not null;
    `);
    this.addSql(tenantRowLevelSecuritySql('boards'));
    this.addSql(tenantRowLevelSecuritySql('lists'));
    this.addSql(OUTBOX_TABLE_SQL);
  }
}
