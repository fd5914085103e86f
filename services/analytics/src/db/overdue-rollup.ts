import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { periodicJob, type PeriodicJob } from '@taskmesh/runtime/periodic-job';
import { sql, withAppConnection, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import { utcDay } from '../domain/task-activity.ts';
import { ORG_TABLES } from './activity-store.ts';
import { ROLLUP_SCAN_SETTING } from './rollup-scope.ts';

/** First day an org's rollup must (re)do: the day after the last one done, or earlier where events changed. */
const FROM_SQL = sql.raw('coalesce(least(dirty_from, rolled_through + 1), dirty_from)');

/**
 * The scheduled side: every ANALYTICS_ROLLUP_INTERVAL_SECONDS (and once at start) it counts, for each day that
 * has ended and is not counted yet (or was changed since by a late or replayed event), the tasks overdue at the
 * end of that day: due before the day's end, not DONE and not deleted at that moment (task_history). Replicas
 * may run at once: each org's rollup holds its rollup_state row, and redoing a day replaces its rows.
 */
export class OverdueRollup {
  constructor(
    private readonly em: EntityManager,
    private readonly settings: { intervalSeconds: number },
    private readonly log: Logger,
  ) {}

  /**
   * Rolls up every org with ended days to do as of `now`; returns how many orgs were rolled up.
   */
  async runDue(now = new Date()): Promise<number> {
    const yesterday = utcDay(new Date(now.getTime() - 86_400_000));
    const orgs = await withAppConnection(
      this.em,
      { [ROLLUP_SCAN_SETTING]: 'on' },
      async (tx) => {
        const result = await tx.query<{ org_id: string }>(sql`select org_id from rollup_state where ${FROM_SQL} <= ${yesterday}::date order by org_id`);
        await tx.commit();
        return result.rows.map((row) => row.org_id);
      },
      { readOnly: true },
    );
    let done = 0;
    for (const orgId of orgs) if (await this.rollUpOrg(orgId, yesterday)) done += 1;
    return done;
  }

  /** One org's days up to `lastDay`, in one transaction; false when another replica had done them. */
  private async rollUpOrg(orgId: string, lastDay: string): Promise<boolean> {
    return withOrgConnection(this.em, orgId, async (tx) => {
      const locked = await tx.query<{ from_day: string | null }>(
        sql`select to_char(${FROM_SQL}, 'YYYY-MM-DD') as from_day from rollup_state where org_id = ${orgId}::uuid for update`,
      );
      const fromDay = locked.rows[0]?.from_day;
      if (!fromDay || fromDay > lastDay) return false;
      await tx.commit(
        sql`delete from daily_overdue where org_id = ${orgId}::uuid and day between ${fromDay}::date and ${lastDay}::date`,
        sql`insert into daily_overdue (org_id, board_id, day, overdue)
            with days as (
              select g::date as day, (g::date + 1)::timestamp at time zone 'UTC' as day_end
              from generate_series(${fromDay}::date::timestamp, ${lastDay}::date::timestamp, interval '1 day') as g
            ),
            at_day_end as (
              select distinct on (days.day, h.task_id) days.day, days.day_end, h.board_id, h.status, h.due_time, h.deleted
              from days join task_history h on h.org_id = ${orgId}::uuid and h.at < days.day_end
              order by days.day, h.task_id, h.at desc, h.id desc
            )
            select ${orgId}::uuid, board_id, day, count(*)::int from at_day_end
            where not deleted and status <> 'DONE' and due_time < day_end
            group by day, board_id`,
        sql`update rollup_state set rolled_through = greatest(rolled_through, ${lastDay}::date), dirty_from = null where org_id = ${orgId}::uuid`,
      );
      this.log.debug({ orgId, fromDay, lastDay }, 'analytics overdue rollup done');
      return true;
    });
  }

  /**
   * Deletes every figure of the organizations whose purge is due (deleted longer than ORG_RETENTION_DAYS ago),
   * each in one transaction bound to it; returns how many were purged.
   */
  async purgeDeletedOrgs(now = new Date()): Promise<number> {
    const due = await this.em.fork().execute<{ org_id: string }[]>('select org_id from org_purges where due_at <= ? order by due_at limit 100', [now]);
    for (const { org_id: orgId } of due) {
      await withOrgConnection(this.em, orgId, (tx) =>
        tx.commit(
          ...ORG_TABLES.map((table) => sql`delete from ${sql.raw(table)} where org_id = ${orgId}::uuid`),
          sql`delete from org_purges where org_id = ${orgId}::uuid`,
        ),
      );
      this.log.info({ organization: `organizations/${orgId}` }, 'purged analytics of deleted organization');
    }
    return due.length;
  }

  /** The job as the service schedules it: now, then every interval. */
  schedule(): PeriodicJob {
    return periodicJob(async () => {
      await this.runDue();
      await this.purgeDeletedOrgs();
    }, { intervalMs: this.settings.intervalSeconds * 1000, log: this.log, what: 'analytics rollup' });
  }
}
