import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/** The caller's user id for the one cross-org read the service needs: "my memberships and their organizations". */
const CURRENT_USER_SQL = `nullif(current_setting('app.user_id', true), '')::uuid`;

export class InitialOrgSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table organizations (
        id uuid primary key,
        org_id uuid not null unique check (org_id = id),
        display_name text not null,
        version integer not null,
        created_by uuid not null,
        create_request_id text null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        deleted_at timestamptz null
      );
      create unique index organizations_create_request_idx on organizations (created_by, create_request_id)
        where create_request_id is not null;
      create index organizations_deleted_at_idx on organizations (deleted_at) where deleted_at is not null;
      create table memberships (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        user_id uuid not null,
        role text not null check (role in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
        version integer not null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        unique (org_id, user_id)
      );
      create index memberships_user_id_idx on memberships (user_id);
      create table invitations (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        email text not null,
        email_normalized text not null,
        role text not null check (role in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
        inviter_id uuid not null,
        token_hash text not null unique,
        create_request_id text null,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        accepted_at timestamptz null,
        accepted_by uuid null,
        revoked_at timestamptz null
      );
      -- At most one pending invitation per address and org: re-inviting revokes the old one first.
      create unique index invitations_pending_email_idx on invitations (org_id, email_normalized)
        where accepted_at is null and revoked_at is null;
      create unique index invitations_create_request_idx on invitations (org_id, inviter_id, create_request_id)
        where create_request_id is not null;
    `);
    // A user sees their own memberships across orgs (ListOrganizations) and the organizations they belong to;
    // nothing else is visible without an org, and nothing is writable without one.
    this.addSql(tenantRowLevelSecuritySql('memberships', { alsoVisibleWhen: `user_id = ${CURRENT_USER_SQL}` }));
    this.addSql(
      tenantRowLevelSecuritySql('organizations', {
        alsoVisibleWhen: `id in (select m.org_id from memberships m where m.user_id = ${CURRENT_USER_SQL})
          or (deleted_at is not null and current_setting('app.purge', true) = 'on')`,
      }),
    );
    this.addSql(tenantRowLevelSecuritySql('invitations'));
    this.addSql(OUTBOX_TABLE_SQL);
  }
}
