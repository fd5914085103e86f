import { Migration } from '@mikro-orm/migrations';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/** API tokens of an organization (issue 14 §4): a tenant table under both walls. */
export class ApiTokensMigration extends Migration {
  override name = '0003-api-tokens';

  override up(): void {
    this.addSql(`
      create table api_tokens (
        id uuid primary key,
        org_id uuid not null references organizations (id) on delete cascade,
        display_name text not null,
        role text not null check (role in ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
        token_hash text not null unique,
        created_by uuid not null,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        last_used_at timestamptz null,
        revoked_at timestamptz null
      );
      create index api_tokens_org_created_idx on api_tokens (org_id, created_at desc, id desc);
    `);
    this.addSql(tenantRowLevelSecuritySql('api_tokens'));
  }
}

