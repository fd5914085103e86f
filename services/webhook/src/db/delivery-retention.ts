import type { EntityManager } from '@mikro-orm/postgresql';
import type { RetentionPurge } from '@taskmesh/runtime/bookkeeping-retention';
import { sql, withAppConnection } from '@taskmesh/runtime/tenant-sql';
import { DELIVERY_FINISHED_AT_SQL, DELIVERY_PURGE_BEFORE_SETTING } from './retention-scope.ts';

const FINISHED_AT = sql.raw(DELIVERY_FINISHED_AT_SQL);

/**
 * Deliveries that succeeded or were given up more than `retentionDays` ago, with their attempts, across orgs:
 * one statement per batch, scoped by RLS to what the purge's session variable admits (migration 0004).
 */
export function deliveryRetentionPurge(em: EntityManager, retentionDays: number): RetentionPurge {
  return {
    what: 'finished webhook deliveries',
    async deleteBatch(now, limit) {
      const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
      return withAppConnection(em, { [DELIVERY_PURGE_BEFORE_SETTING]: cutoff.toISOString() }, async (tx) => {
        const result = await tx.query<{ n: number }>(sql`
          with gone as (
            delete from deliveries where id in (
              select id from deliveries where state <> 'PENDING' and ${FINISHED_AT} < ${cutoff}::timestamptz
              order by ${FINISHED_AT} limit ${limit}::int)
            returning id),
          attempts as (delete from delivery_attempts where delivery_id in (select id from gone))
          select count(*)::int as n from gone`);
        return result.rows[0]!.n;
      });
    },
  };
}
