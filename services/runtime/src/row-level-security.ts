import { ORG_SETTING } from './tenancy.ts';

/**
 * The second wall of tenant isolation: PostgreSQL row-level security, for use in migrations. The services
 * connect as a non-superuser role without BYPASSRLS (database.ts), and MikroORM sets `app.org_id` per
 * transaction from the tenant fork (tenancy.ts), so a query that escaped the ORM filter still sees only the
 * current org's rows, and a write can only produce rows of the current org.
 */

/** The current org, or NULL when none is set: an unset setting reads as '' (or NULL), and NULL matches no row. */
export const CURRENT_ORG_SQL = `nullif(current_setting('${ORG_SETTING}', true), '')::uuid`;

export interface TenantPolicyOptions {
  /** The column holding the org id; org_id unless told. */
  column?: string;
  /**
   * A further SQL condition under which rows are visible (never writable), for a deliberately narrow scope a
   * service documents, e.g. "the caller's own memberships across orgs". Keep it keyed by a session variable.
   */
  alsoVisibleWhen?: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * SQL that turns on RLS for a tenant table (forced, so a non-superuser table owner is bound too) with policies:
 * rows are visible when their org is the current one (or the extra read-only scope holds); only rows of the
 * current org can be inserted, updated (before and after) or deleted.
 */
export function tenantRowLevelSecuritySql(table: string, options: TenantPolicyOptions = {}): string {
  const column = options.column ?? 'org_id';
  for (const name of [table, column]) {
    if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  }
  const sameOrg = `${column} = ${CURRENT_ORG_SQL}`;
  const visible = options.alsoVisibleWhen ? `(${sameOrg}) or (${options.alsoVisibleWhen})` : sameOrg;
  return `
alter table ${table} enable row level security;
alter table ${table} force row level security;
create policy ${table}_tenant_select on ${table} for select using (${visible});
create policy ${table}_tenant_insert on ${table} for insert with check (${sameOrg});
create policy ${table}_tenant_update on ${table} for update using (${sameOrg}) with check (${sameOrg});
create policy ${table}_tenant_delete on ${table} for delete using (${sameOrg});
`;
}
