import type { EntityManager } from '@mikro-orm/postgresql';
import { OrganizationPurged } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { EventSubscription } from './events/event-bus.ts';
import { isResourceId } from './resource-names.ts';
import { sql, withOrgConnection, type SqlFragment } from './tenant-sql.ts';

export const ORGANIZATION_PURGED_EVENT = 'taskmesh.org.v1.OrganizationPurged';

export interface OrganizationPurgeScope {
  /** Durable consumer name, e.g. 'board-purge'. */
  consumer: string;
  /** The service's tables with an org_id column, children before parents (trusted names). */
  tables: readonly string[];
  /** Whether the service has an outbox: its events about the org go too, published or not. */
  outbox: boolean;
  /** Further statements for rows that name the org otherwise (e.g. in a resource name). */
  more?: (orgId: string, orgName: string) => SqlFragment[];
  /** Runs after the commit, e.g. to remove the org's objects from a store. */
  afterCommit?: (orgId: string) => Promise<void>;
}

/**
 * Once the org service purged a deleted organization (its retention passed), every service removes what it
 * still holds of it: one transaction bound to the org (RLS admits exactly its rows) deleting from each table.
 * Deleting what is already gone changes nothing, so a redelivery is harmless.
 */
export function organizationPurgeSubscription(em: EntityManager, scope: OrganizationPurgeScope): EventSubscription {
  return {
    consumer: scope.consumer,
    types: [ORGANIZATION_PURGED_EVENT],
    async handle(event) {
      const name = OrganizationPurged.decode(event.payload).organization;
      const orgId = /^organizations\/([^/]+)$/.exec(name)?.[1];
      if (!orgId || !isResourceId(orgId)) return;
      await purgeOrganizationRows(em, orgId, scope);
      await scope.afterCommit?.(orgId);
    },
  };
}

/** The statements of organizationPurgeSubscription, in one transaction bound to the org. */
export async function purgeOrganizationRows(em: EntityManager, orgId: string, scope: Omit<OrganizationPurgeScope, 'consumer'>): Promise<void> {
  const orgName = `organizations/${orgId}`;
  for (const table of scope.tables) if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`not a plain table name: ${table}`);
  const statements = [
    ...(scope.more?.(orgId, orgName) ?? []),
    ...scope.tables.map((table) => sql`delete from ${sql.raw(table)} where org_id = ${orgId}::uuid`),
    ...(scope.outbox ? [sql`delete from outbox where organization = ${orgName}`] : []),
  ];
  await withOrgConnection(em, orgId, (tx) => tx.commit(...statements));
}
