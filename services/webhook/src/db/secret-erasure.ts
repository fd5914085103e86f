import type { EntityManager } from '@mikro-orm/postgresql';
import type { RetentionPurge } from '@taskmesh/runtime/bookkeeping-retention';
import { sql, withAppConnection } from '@taskmesh/runtime/tenant-sql';
import { SECRET_ERASE_BEFORE_SETTING } from './retention-scope.ts';

/**
 * Previous signing secrets whose rotation grace period has ended, erased in every org (the delivery worker
 * also erases one when it next signs for its endpoint; this reaches endpoints nothing is sent to). One
 * statement per batch, scoped by RLS to what the session variable admits (migration 0005); replicas take
 * disjoint rows.
 */
export function expiredSecretErasure(em: EntityManager): RetentionPurge {
  return {
    what: 'expired previous webhook signing secrets',
    async deleteBatch(now, limit) {
      return withAppConnection(em, { [SECRET_ERASE_BEFORE_SETTING]: now.toISOString() }, async (tx) => {
        const result = await tx.query<{ n: number }>(sql`
          with erased as (
            update webhooks set previous_secret_sealed = null
            where id in (
              select id from webhooks where previous_secret_sealed is not null and previous_secret_expire_time < ${now}::timestamptz
              order by previous_secret_expire_time limit ${limit}::int for update skip locked)
            returning id)
          select count(*)::int as n from erased`);
        return result.rows[0]!.n;
      });
    },
  };
}
