import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import type { SummaryQuery } from '../domain/summary-query.ts';

/** Counters of one day as stored (days without a row are all zero). */
export interface DayRecord {
  day: string;
  tasksCreated: number;
  tasksCompleted: number;
  tasksReopened: number;
  tasksMoved: number;
  shareLinkOpens: number;
  overdue: number;
}

export interface SummaryRecord {
  days: Map<string, DayRecord>;
  cycleTime: { completions: number; p50Seconds: number | null; p90Seconds: number | null };
  assignees: { assignee: string; tasksCompleted: number }[];
}

/** Reads a summary in one read-only transaction of the org (one round trip). */
export async function readSummary(em: EntityManager, query: SummaryQuery): Promise<SummaryRecord> {
  const { orgId, firstDay, lastDay } = query;
  const board = query.boardId ?? null;
  const where = sql`org_id = ${orgId}::uuid and day between ${firstDay}::date and ${lastDay}::date and (${board}::uuid is null or board_id = ${board}::uuid)`;
  const [counters, overdue, cycle, assignees] = await withOrgConnection(
    em,
    orgId,
    async (tx) =>
      (
        await tx.commit(
          sql`select to_char(day, 'YYYY-MM-DD') as day, sum(tasks_created)::int as created, sum(tasks_completed)::int as completed,
                sum(tasks_reopened)::int as reopened, sum(tasks_moved)::int as moved, sum(share_link_opens)::int as opens
              from daily_counters where ${where} group by day`,
          sql`select to_char(day, 'YYYY-MM-DD') as day, sum(overdue)::int as overdue from daily_overdue where ${where} group by day`,
          sql`select count(*)::int as n, percentile_cont(0.5) within group (order by seconds) as p50,
                percentile_cont(0.9) within group (order by seconds) as p90
              from cycle_times where ${where}`,
          sql`select assignee, sum(tasks_completed)::int as n from assignee_completions where ${where}
              group by assignee order by n desc, assignee limit 1000`,
        )
      ).map((result) => result.rows),
    { readOnly: true },
  );
  const days = new Map<string, DayRecord>();
  const dayOf = (day: string) => {
    let record = days.get(day);
    if (!record) {
      record = { day, tasksCreated: 0, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, shareLinkOpens: 0, overdue: 0 };
      days.set(day, record);
    }
    return record;
  };
  for (const row of counters!) {
    Object.assign(dayOf(row.day as string), {
      tasksCreated: row.created,
      tasksCompleted: row.completed,
      tasksReopened: row.reopened,
      tasksMoved: row.moved,
      shareLinkOpens: row.opens,
    });
  }
  for (const row of overdue!) dayOf(row.day as string).overdue = row.overdue as number;
  const c = cycle![0]!;
  return {
    days,
    cycleTime: { completions: c.n as number, p50Seconds: c.p50 === null ? null : Number(c.p50), p90Seconds: c.p90 === null ? null : Number(c.p90) },
    assignees: assignees!.map((row) => ({ assignee: row.assignee as string, tasksCompleted: row.n as number })),
  };
}
