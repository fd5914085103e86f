import { describe, expect, it } from 'vitest';
import { foldActivity, type ActivityFact, type TaskState } from './task-activity.ts';

const BOARD = 'b0000000-0000-4000-8000-000000000000';
const at = (iso: string) => new Date(iso);
const snapshot = (kind: 'created' | 'updated' | 'moved', taskId: string, when: string, status: TaskState['status'], assignees: string[] = [], due: string | null = null): ActivityFact => ({
  kind,
  taskId,
  boardId: BOARD,
  at: at(when),
  status,
  dueTime: due ? at(due) : null,
  assignees,
});
const change = (taskId: string, when: string, oldStatus: TaskState['status'], newStatus: TaskState['status']): ActivityFact => ({
  kind: 'statusChanged',
  taskId,
  boardId: BOARD,
  at: at(when),
  oldStatus,
  newStatus,
});

describe('foldActivity', () => {
  it('counts per board and UTC day: created, completed, reopened, moved, share-link opens', () => {
    const result = foldActivity(new Map(), [
      snapshot('created', 't1', '2026-03-01T23:00:00Z', 'TODO', ['users/a']),
      change('t1', '2026-03-02T01:00:00Z', 'TODO', 'IN_PROGRESS'),
      change('t1', '2026-03-02T03:00:00Z', 'IN_PROGRESS', 'DONE'),
      change('t1', '2026-03-02T04:00:00Z', 'DONE', 'IN_PROGRESS'),
      snapshot('moved', 't1', '2026-03-02T05:00:00Z', 'IN_PROGRESS', ['users/a']),
      { kind: 'shareLinkOpened', taskId: 't1', boardId: BOARD, at: at('2026-03-02T06:00:00Z') },
    ]);
    expect(result.counters.get(`${BOARD}/2026-03-01`)!.add).toEqual({ tasksCreated: 1, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, shareLinkOpens: 0 });
    expect(result.counters.get(`${BOARD}/2026-03-02`)!.add).toEqual({ tasksCreated: 0, tasksCompleted: 1, tasksReopened: 1, tasksMoved: 1, shareLinkOpens: 1 });
    expect(result.cycleTimes).toEqual([{ boardId: BOARD, taskId: 't1', day: '2026-03-02', seconds: 7200 }]);
    expect([...result.assigneeCompletions.values()]).toEqual([{ boardId: BOARD, day: '2026-03-02', assignee: 'users/a', count: 1 }]);
    expect(result.earliestDay).toBe('2026-03-01');
  });

  it('measures cycle time from the first IN_PROGRESS, also across a reopening', () => {
    const previous = new Map<string, TaskState>([
      ['t1', { boardId: BOARD, status: 'IN_PROGRESS', dueTime: null, assignees: [], firstInProgressAt: at('2026-03-01T00:00:00Z'), deleted: false, lastEventAt: at('2026-03-01T00:00:00Z') }],
    ]);
    const result = foldActivity(previous, [change('t1', '2026-03-03T00:00:00Z', 'IN_PROGRESS', 'DONE')]);
    expect(result.cycleTimes[0]!.seconds).toBe(2 * 86_400);
    expect(result.states.get('t1')!.firstInProgressAt).toEqual(at('2026-03-01T00:00:00Z'));
  });

  it('a completion of a task never seen IN_PROGRESS counts, without a cycle time', () => {
    const result = foldActivity(new Map(), [change('t9', '2026-03-03T00:00:00Z', 'IN_PROGRESS', 'DONE')]);
    expect(result.counters.get(`${BOARD}/2026-03-03`)!.add.tasksCompleted).toBe(1);
    expect(result.cycleTimes).toEqual([]);
  });

  it('keeps history only where status, due time or existence changed', () => {
    const result = foldActivity(new Map(), [
      snapshot('created', 't1', '2026-03-01T00:00:00Z', 'TODO', [], '2026-03-02T00:00:00Z'),
      snapshot('updated', 't1', '2026-03-01T01:00:00Z', 'TODO', ['users/a'], '2026-03-02T00:00:00Z'),
      snapshot('updated', 't1', '2026-03-01T02:00:00Z', 'TODO', ['users/a'], '2026-03-03T00:00:00Z'),
      { kind: 'deleted', taskId: 't1', boardId: BOARD, at: at('2026-03-01T03:00:00Z') },
    ]);
    expect(result.history.map((h) => [h.at.toISOString().slice(11, 13), h.dueTime?.toISOString().slice(0, 10), h.deleted])).toEqual([
      ['00', '2026-03-02', false],
      ['02', '2026-03-03', false],
      ['03', '2026-03-03', true],
    ]);
  });

  it('an older event arriving late (a retried failure) is counted but leaves the newer state', () => {
    const result = foldActivity(new Map(), [
      change('t1', '2026-03-01T02:00:00Z', 'TODO', 'IN_PROGRESS'),
      snapshot('created', 't1', '2026-03-01T01:00:00Z', 'TODO'),
    ]);
    expect(result.states.get('t1')!.status).toBe('IN_PROGRESS');
    expect(result.counters.get(`${BOARD}/2026-03-01`)!.add.tasksCreated).toBe(1);
    expect(result.history).toHaveLength(1);
  });
});
