// How task events turn into counters: a pure fold over one org's events (in stream order) and the previous
// state of the tasks they name. The consumer loads those states, folds, and writes the result in the
// transaction that marks the events processed.

export type TaskStatus = 'TODO' | 'IN_PROGRESS' | 'DONE';

/** What the analytics service knows of a task. */
export interface TaskState {
  boardId: string;
  status: TaskStatus;
  dueTime: Date | null;
  assignees: string[];
  firstInProgressAt: Date | null;
  deleted: boolean;
  /** Time of the latest event applied; an older one arriving later (a retried failure) changes no state. */
  lastEventAt: Date | null;
}

/** A fact carried by one consumed event, decoded (events/analytics-consumer.ts). */
export type ActivityFact =
  | { kind: 'created' | 'updated' | 'moved'; taskId: string; boardId: string; at: Date; status: TaskStatus; dueTime: Date | null; assignees: string[] }
  | { kind: 'statusChanged'; taskId: string; boardId: string; at: Date; oldStatus: TaskStatus; newStatus: TaskStatus }
  | { kind: 'deleted'; taskId: string; boardId: string; at: Date }
  | { kind: 'shareLinkOpened'; taskId: string; boardId: string; at: Date };

export interface DayCounters {
  tasksCreated: number;
  tasksCompleted: number;
  tasksReopened: number;
  tasksMoved: number;
  shareLinkOpens: number;
}

export interface HistoryEntry {
  taskId: string;
  boardId: string;
  at: Date;
  status: TaskStatus;
  dueTime: Date | null;
  deleted: boolean;
}

export interface ActivityResult {
  /** The new state of every task a fact named. */
  states: Map<string, TaskState>;
  /** Counter increments keyed by `${boardId}/${day}`. */
  counters: Map<string, { boardId: string; day: string; add: DayCounters }>;
  cycleTimes: { boardId: string; taskId: string; day: string; seconds: number }[];
  /** Completions keyed by `${boardId}/${day}/${assignee}`. */
  assigneeCompletions: Map<string, { boardId: string; day: string; assignee: string; count: number }>;
  history: HistoryEntry[];
  /** The earliest UTC day a fact fell on (rollups from there on are stale). */
  earliestDay: string | undefined;
}

/** The UTC day of an instant, YYYY-MM-DD. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);

const zero = (): DayCounters => ({ tasksCreated: 0, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, shareLinkOpens: 0 });

const sameTime = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);

/**
 * Applies facts in order. A task first seen through a later event (its creation older than the stream) starts
 * from what that event says; a status change of an unknown task counts all the same.
 */
export function foldActivity(previous: ReadonlyMap<string, TaskState>, facts: readonly ActivityFact[]): ActivityResult {
  const states = new Map<string, TaskState>();
  const result: ActivityResult = { states, counters: new Map(), cycleTimes: [], assigneeCompletions: new Map(), history: [], earliestDay: undefined };
  const stateOf = (taskId: string) => states.get(taskId) ?? previous.get(taskId);
  const count = (boardId: string, day: string, field: keyof DayCounters) => {
    const key = `${boardId}/${day}`;
    let entry = result.counters.get(key);
    if (!entry) result.counters.set(key, (entry = { boardId, day, add: zero() }));
    entry.add[field] += 1;
  };
  const put = (taskId: string, fields: Omit<TaskState, 'lastEventAt'>, at: Date) => {
    const before = stateOf(taskId);
    if (before?.lastEventAt && at.getTime() < before.lastEventAt.getTime()) return;
    const next = { ...fields, lastEventAt: at };
    states.set(taskId, next);
    if (!before || before.status !== next.status || before.deleted !== next.deleted || !sameTime(before.dueTime, next.dueTime)) {
      result.history.push({ taskId, boardId: next.boardId, at, status: next.status, dueTime: next.dueTime, deleted: next.deleted });
    }
  };

  for (const fact of facts) {
    const day = utcDay(fact.at);
    if (result.earliestDay === undefined || day < result.earliestDay) result.earliestDay = day;
    const before = stateOf(fact.taskId);
    switch (fact.kind) {
      case 'created':
      case 'updated':
      case 'moved': {
        if (fact.kind === 'created') count(fact.boardId, day, 'tasksCreated');
        if (fact.kind === 'moved') count(fact.boardId, day, 'tasksMoved');
        const firstInProgressAt = before?.firstInProgressAt ?? (fact.status === 'IN_PROGRESS' ? fact.at : null);
        put(fact.taskId, { boardId: fact.boardId, status: fact.status, dueTime: fact.dueTime, assignees: fact.assignees, firstInProgressAt, deleted: false }, fact.at);
        break;
      }
      case 'statusChanged': {
        const firstInProgressAt = before?.firstInProgressAt ?? (fact.newStatus === 'IN_PROGRESS' ? fact.at : null);
        const assignees = before?.assignees ?? [];
        if (fact.newStatus === 'DONE' && fact.oldStatus !== 'DONE') {
          count(fact.boardId, day, 'tasksCompleted');
          if (firstInProgressAt) {
            result.cycleTimes.push({ boardId: fact.boardId, taskId: fact.taskId, day, seconds: (fact.at.getTime() - firstInProgressAt.getTime()) / 1000 });
          }
          for (const assignee of new Set(assignees)) {
            const key = `${fact.boardId}/${day}/${assignee}`;
            const entry = result.assigneeCompletions.get(key);
            if (entry) entry.count += 1;
            else result.assigneeCompletions.set(key, { boardId: fact.boardId, day, assignee, count: 1 });
          }
        } else if (fact.oldStatus === 'DONE' && fact.newStatus !== 'DONE') {
          count(fact.boardId, day, 'tasksReopened');
        }
        put(
          fact.taskId,
          { boardId: fact.boardId, status: fact.newStatus, dueTime: before?.dueTime ?? null, assignees, firstInProgressAt, deleted: before?.deleted ?? false },
          fact.at,
        );
        break;
      }
      case 'deleted':
        put(
          fact.taskId,
          {
            boardId: fact.boardId,
            status: before?.status ?? 'TODO',
            dueTime: before?.dueTime ?? null,
            assignees: before?.assignees ?? [],
            firstInProgressAt: before?.firstInProgressAt ?? null,
            deleted: true,
          },
          fact.at,
        );
        break;
      case 'shareLinkOpened':
        count(fact.boardId, day, 'shareLinkOpens');
        break;
    }
  }
  return result;
}
