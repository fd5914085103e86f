import type { EntityManager } from '@mikro-orm/postgresql';
import type { ActivityResult, TaskState, TaskStatus } from '../domain/task-activity.ts';

interface TaskStateRow {
  task_id: string;
  board_id: string;
  status: string;
  due_time: Date | string | null;
  assignees: string[];
  first_in_progress_at: Date | string | null;
  deleted: boolean;
  last_event_at: Date | string | null;
}

const dateOrNull = (value: Date | string | null) => (value === null ? null : new Date(value));

/**
 * The real-time side: reads the states of the tasks a batch names and writes what the fold made of it, each as
 * one multi-row statement (rows travel as one JSON parameter). `tx` is the consumer's transaction, already
 * bound to `orgId` (row-level security on); every statement also names the org.
 */
export class ActivityStore {
  constructor(
    private readonly tx: EntityManager,
    private readonly orgId: string,
  ) {}

  async loadStates(taskIds: readonly string[]): Promise<Map<string, TaskState>> {
    const states = new Map<string, TaskState>();
    if (taskIds.length === 0) return states;
    const rows = await this.tx.execute<TaskStateRow[]>(
      `select task_id, board_id, status, due_time, assignees, first_in_progress_at, deleted, last_event_at from task_states
       where org_id = ? and task_id in (select jsonb_array_elements_text(?::jsonb)::uuid)`,
      [this.orgId, JSON.stringify([...new Set(taskIds)])],
    );
    for (const row of rows) {
      states.set(row.task_id, {
        boardId: row.board_id,
        status: row.status as TaskStatus,
        dueTime: dateOrNull(row.due_time),
        assignees: row.assignees,
        firstInProgressAt: dateOrNull(row.first_in_progress_at),
        deleted: row.deleted,
        lastEventAt: dateOrNull(row.last_event_at),
      });
    }
    return states;
  }

  async write(result: ActivityResult): Promise<void> {
    const { orgId, tx } = this;
    if (result.states.size > 0) {
      const rows = [...result.states].map(([taskId, s]) => ({
        task_id: taskId,
        board_id: s.boardId,
        status: s.status,
        due_time: s.dueTime,
        assignees: s.assignees,
        first_in_progress_at: s.firstInProgressAt,
        deleted: s.deleted,
        last_event_at: s.lastEventAt,
      }));
      await tx.execute(
        `insert into task_states (org_id, task_id, board_id, status, due_time, assignees, first_in_progress_at, deleted, last_event_at)
         select ?::uuid, x.task_id, x.board_id, x.status, x.due_time, array(select jsonb_array_elements_text(x.assignees)), x.first_in_progress_at, x.deleted, x.last_event_at
         from jsonb_to_recordset(?::jsonb) as x(task_id uuid, board_id uuid, status text, due_time timestamptz, assignees jsonb, first_in_progress_at timestamptz, deleted boolean, last_event_at timestamptz)
         on conflict (org_id, task_id) do update set board_id = excluded.board_id, status = excluded.status, due_time = excluded.due_time,
           assignees = excluded.assignees, first_in_progress_at = excluded.first_in_progress_at, deleted = excluded.deleted,
           last_event_at = excluded.last_event_at`,
        [orgId, JSON.stringify(rows)],
      );
    }
    if (result.history.length > 0) {
      const rows = result.history.map((h, n) => ({ n, task_id: h.taskId, board_id: h.boardId, at: h.at, status: h.status, due_time: h.dueTime, deleted: h.deleted }));
      // In the fold's order, so ids break ties between changes at the same instant.
      await tx.execute(
        `insert into task_history (org_id, task_id, board_id, at, status, due_time, deleted)
         select ?::uuid, x.task_id, x.board_id, x.at, x.status, x.due_time, x.deleted
         from jsonb_to_recordset(?::jsonb) as x(n int, task_id uuid, board_id uuid, at timestamptz, status text, due_time timestamptz, deleted boolean)
         order by x.n`,
        [orgId, JSON.stringify(rows)],
      );
    }
    if (result.counters.size > 0) {
      const rows = [...result.counters.values()].map((c) => ({
        board_id: c.boardId,
        day: c.day,
        created: c.add.tasksCreated,
        completed: c.add.tasksCompleted,
        reopened: c.add.tasksReopened,
        moved: c.add.tasksMoved,
        opens: c.add.shareLinkOpens,
      }));
      await tx.execute(
        `insert into daily_counters (org_id, board_id, day, tasks_created, tasks_completed, tasks_reopened, tasks_moved, share_link_opens)
         select ?::uuid, x.board_id, x.day, x.created, x.completed, x.reopened, x.moved, x.opens
         from jsonb_to_recordset(?::jsonb) as x(board_id uuid, day date, created int, completed int, reopened int, moved int, opens int)
         order by x.day, x.board_id
         on conflict (org_id, day, board_id) do update set
           tasks_created = daily_counters.tasks_created + excluded.tasks_created,
           tasks_completed = daily_counters.tasks_completed + excluded.tasks_completed,
           tasks_reopened = daily_counters.tasks_reopened + excluded.tasks_reopened,
           tasks_moved = daily_counters.tasks_moved + excluded.tasks_moved,
           share_link_opens = daily_counters.share_link_opens + excluded.share_link_opens`,
        [orgId, JSON.stringify(rows)],
      );
    }
    if (result.cycleTimes.length > 0) {
      const rows = result.cycleTimes.map((c) => ({ board_id: c.boardId, task_id: c.taskId, day: c.day, seconds: c.seconds }));
      await tx.execute(
        `insert into cycle_times (org_id, board_id, task_id, day, seconds)
         select ?::uuid, x.board_id, x.task_id, x.day, x.seconds
         from jsonb_to_recordset(?::jsonb) as x(board_id uuid, task_id uuid, day date, seconds double precision)`,
        [orgId, JSON.stringify(rows)],
      );
    }
    if (result.assigneeCompletions.size > 0) {
      const rows = [...result.assigneeCompletions.values()].map((a) => ({ board_id: a.boardId, day: a.day, assignee: a.assignee, n: a.count }));
      await tx.execute(
        `insert into assignee_completions (org_id, board_id, day, assignee, tasks_completed)
         select ?::uuid, x.board_id, x.day, x.assignee, x.n
         from jsonb_to_recordset(?::jsonb) as x(board_id uuid, day date, assignee text, n int)
         order by x.day, x.board_id, x.assignee
         on conflict (org_id, day, board_id, assignee) do update set tasks_completed = assignee_completions.tasks_completed + excluded.tasks_completed`,
        [orgId, JSON.stringify(rows)],
      );
    }
    if (result.earliestDay !== undefined) {
      // Rollups of that day and later are redone by the next run (the job holds this row while it works).
      await tx.execute(
        `insert into rollup_state (org_id, dirty_from) values (?, ?::date)
         on conflict (org_id) do update set dirty_from = least(rollup_state.dirty_from, excluded.dirty_from)`,
        [orgId, result.earliestDay],
      );
    }
  }
}

/** Tables holding an org's figures, all purged together. */
export const ORG_TABLES = ['task_states', 'task_history', 'daily_counters', 'cycle_times', 'assignee_completions', 'daily_overdue', 'rollup_state'] as const;

/** Records that a deleted org's figures go at `dueAt` (a second deletion event keeps the first date). */
export async function scheduleOrgPurge(tx: EntityManager, orgId: string, dueAt: Date): Promise<void> {
  await tx.execute('insert into org_purges (org_id, due_at) values (?, ?) on conflict (org_id) do nothing', [orgId, dueAt]);
}
