import type { EntityManager } from '@mikro-orm/postgresql';
import type { RetentionPurge } from '@taskmesh/runtime/bookkeeping-retention';

/**
 * Mail that was sent or given up more than `retentionDays` ago (pending mail is never touched). Replicas take
 * disjoint rows (skip locked). outgoing_mail carries no org column and no RLS: it is notify's own queue.
 */
export function mailRetentionPurge(em: EntityManager, retentionDays: number): RetentionPurge {
  return {
    what: 'finished outgoing mail',
    async deleteBatch(now, limit) {
      const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
      const result = await em.fork().execute<{ affectedRows: number }>(
        `delete from outgoing_mail where id in (
           select id from outgoing_mail where coalesce(sent_at, failed_at) < ?
           order by coalesce(sent_at, failed_at) limit ? for update skip locked)`,
        [cutoff, limit],
        'run',
      );
      return result.affectedRows;
    },
  };
}
