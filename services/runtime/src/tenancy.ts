import { defineEntity, p, type EntityManager, type InferEntity } from '@mikro-orm/core';
import type { EntityManager as SqlEntityManager } from '@mikro-orm/postgresql';

/**
 * The first wall of tenant isolation, in the ORM. Every tenant-owned entity extends TenantScoped: it carries
 * `orgId` and the default-on `tenant` filter, which takes the org as an argument. A query on an EntityManager
 * that was never given an org throws ("No arguments provided for filter 'tenant'") instead of reading every
 * tenant's rows: it fails closed. The second wall is row-level security (row-level-security.ts), keyed by the
 * same org through the `app.org_id` session variable.
 */
export const TENANT_FILTER = 'tenant';

/** Session variable the RLS policies read; set per transaction (set_config(..., true)) by MikroORM. */
export const ORG_SETTING = 'app.org_id';

export const TenantScoped = defineEntity({
  name: 'TenantScoped',
  abstract: true,
  properties: {
    orgId: p.uuid(),
  },
  filters: {
    [TENANT_FILTER]: {
      name: TENANT_FILTER,
      cond: (args: { orgId?: unknown }) => {
        // An explicit, well-formed org is the only way in; anything else matches no row.
        if (typeof args.orgId !== 'string' || args.orgId.length === 0) throw new Error('tenant filter needs an orgId');
        return { orgId: args.orgId };
      },
      default: true,
      args: true,
    },
  },
});
export type TenantScoped = InferEntity<typeof TenantScoped>;

/**
 * A fork of `em` bound to one organization: the `tenant` filter is set to it and every transaction sets the
 * RLS session variable to it, so both walls agree. The only way a handler gets an EntityManager for tenant data.
 */
export function forkForOrg<E extends EntityManager>(em: E, orgId: string): E {
  const fork = em.fork({ clear: true }) as E;
  fork.setFilterParams(TENANT_FILTER, { orgId });
  fork.setSessionContext({ variables: { [ORG_SETTING]: orgId } });
  return fork;
}

/**
 * Binds an ORM transaction that began without an org (an event consumer's, which learns the org from the
 * event) to `orgId` for the rest of the transaction, so row-level security admits exactly that org's rows.
 * Add the org to the statements' own conditions too (the ORM-side wall).
 */
export async function enterOrgInTransaction(tx: SqlEntityManager, orgId: string): Promise<void> {
  if (!tx.isInTransaction()) throw new Error('enterOrgInTransaction: not in a transaction');
  await tx.execute(`select set_config('${ORG_SETTING}', ?, true)`, [orgId]);
}
