// The digest's task snapshots recorded for a batch of events (one upsert, collapsed per task) end as they
// would recording the events one by one: newest update_time wins, deletions are tombstones.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { notifyMigrations } from '../src/db/migrations/index.ts';
import { TaskDigest, type TaskChange, type TaskState } from '../src/db/task-digest.ts';

const log = pino({ level: 'silent' });
const ORG = 'organizations/0b8f6a8e-2a51-4a57-9d64-7f3e0c2f4d11';

describe('task snapshots of a batch', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ service: 'notify', entities: [], migrations: notifyMigrations, databaseUrl: testDb.databaseUrl, log });
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  const at = (second: number) => new Date(Date.UTC(2026, 10, 23, 12, 0, second));
  const state = (prefix: string, task: string, title: string, second: number, assignees: string[] = []): TaskChange => ({
    kind: 'state',
    task: { name: `${ORG}/boards/b/tasks/${prefix}${task}`, organization: ORG, title, status: 'todo', assignees, dueTime: at(59), archived: false, updateTime: at(second) },
  });
  const deleted = (prefix: string, task: string, second: number): TaskChange => ({
    kind: 'deleted', name: `${ORG}/boards/b/tasks/${prefix}${task}`, organization: ORG, at: at(second),
  });
  /** What happened, in delivery order (redeliveries can put an older state after a newer one). */
  const history = (p: string): TaskChange[] => [
    state(p, 'a', 'a1', 1, ['users/1']),
    state(p, 'b', 'b1', 1),
    state(p, 'a', 'a3', 3, ['users/2']),
    state(p, 'a', 'a2', 2),
    state(p, 'b', 'b2', 2),
    state(p, 'b', 'b2-same-time', 2),
    state(p, 'c', 'c1', 1),
    deleted(p, 'c', 2),
    state(p, 'c', 'c3-after-delete', 3),
    state(p, 'd', 'd-older-than-stored', 0),
    state(p, 'e', 'e1', 5),
  ];

  async function snapshots(prefix: string) {
    const rows = await db.em.fork().execute<Record<string, unknown>[]>(
      `select substr(name, length(?) + 1) as task, title, status, assignees, due_time, archived, deleted, update_time
       from task_snapshot where name like ? order by name`,
      [`${ORG}/boards/b/tasks/${prefix}`, `${ORG}/boards/b/tasks/${prefix}%`],
    );
    return rows;
  }

  it('ends in the same state as recording the events one by one', async () => {
    // Something stored before the batch, newer than one of its events.
    for (const prefix of ['one-', 'batch-']) {
      const stored = state(prefix, 'd', 'd-stored', 1);
      if (stored.kind === 'state') await db.em.fork().transactional((tx) => TaskDigest.recordTask(tx, stored.task));
    }
    await db.em.fork().transactional(async (tx) => {
      for (const change of history('one-')) {
        if (change.kind === 'state') await TaskDigest.recordTask(tx, change.task);
        else await TaskDigest.recordTaskDeleted(tx, change.name, change.organization, change.at);
      }
    });
    await db.em.fork().transactional((tx) => TaskDigest.recordTaskChanges(tx, history('batch-')));
    const one = await snapshots('one-');
    expect(one.map((r) => r.title)).toEqual(['a3', 'b2-same-time', 'c1', 'd-stored', 'e1']);
    expect(await snapshots('batch-')).toEqual(one);
  });

  it('records new task states with their processed events in one statement: processed ones skipped, newest per task kept', async () => {
    const states = (prefix: string) =>
      history(prefix).filter((change) => change.kind === 'state').map((change, i) => ({ eventId: randomUUID(), i, change }));
    const one = states('one-states-');
    const fast = states('fast-states-');
    // One event of each was processed before (with a state that must therefore not be applied again).
    const processedBefore = (list: typeof one) => list.find((item) => item.change.kind === 'state' && item.change.task.title === 'e1')!;
    for (const list of [one, fast]) {
      await db.em.fork().execute('insert into processed_events (consumer, event_id, event_type) values (?, ?, ?)', ['digest-test', processedBefore(list).eventId, 'taskmesh.task.v1.TaskUpdated']);
    }
    await db.em.fork().transactional(async (tx) => {
      for (const item of one) if (item !== processedBefore(one) && item.change.kind === 'state') await TaskDigest.recordTask(tx, item.change.task);
    });
    const items = fast.map((item) => ({ eventId: item.eventId, eventType: 'taskmesh.task.v1.TaskUpdated', task: (item.change as { task: TaskState }).task }));
    await TaskDigest.recordNewTaskStates(db.em, 'digest-test', [...items, items[0]!]);
    // Redelivered: nothing changes.
    await TaskDigest.recordNewTaskStates(db.em, 'digest-test', items.map((item) => ({ ...item, task: { ...item.task, title: 'redelivered' } })));
    const expected = await snapshots('one-states-');
    expect(expected.map((r) => r.title)).toEqual(['a3', 'b2-same-time', 'c3-after-delete', 'd-older-than-stored']);
    expect(await snapshots('fast-states-')).toEqual(expected);
    const [{ n }] = await db.em.fork().execute<{ n: number }[]>(
      'select count(*)::int as n from processed_events where consumer = ? and event_id = any(?::uuid[])',
      ['digest-test', `{${fast.map((item) => item.eventId).join(',')}}`],
    );
    expect(n).toBe(fast.length);
  });
});
