import { randomUUID } from 'node:crypto';
import { status as GrpcCode } from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommentAdded, TaskCreated, TaskMoved } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { sql, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import { SqlTaskStore } from '../src/db/task-store.ts';
import type { Task } from '../src/domain/task-fields.ts';
import { taskCreatedEvents } from '../src/events/task-events.ts';
import { toCommentMessage, toTaskMessage } from '../src/task-mapping.ts';
import { codeOf, failure } from '@taskmesh/runtime/testing/grpc-assertions';
import { draft, startTaskFixture, type TaskFixture } from './task-fixture.ts';

/** The task store's writes (db/task-store.ts): both tenant walls, clean connections, atomicity, retries. */

let f: TaskFixture;
let admin: pg.Client | undefined;
beforeAll(async () => {
  f = await startTaskFixture();
  if (f.testDb.databaseUrl) {
    admin = new pg.Client({ connectionString: f.testDb.databaseUrl });
    await admin.connect();
  }
});
afterAll(async () => {
  await admin?.end();
  await f?.close();
});


/** Rows as the database owner sees them (no RLS), straight from the task schema. */
async function ownerRows<T>(sql: string, values: unknown[] = []): Promise<T[]> {
  if (!admin) throw new Error('needs PostgreSQL');
  return (await admin.query(sql, values)).rows as T[];
}

const eventsOf = (taskId: string) =>
  ownerRows<{ type: string; payload: Buffer; organization: string; actor: string; resource: string }>(
    `select type, payload, organization, actor, resource from task.outbox where resource like $1 order by seq`,
    [`%/tasks/${taskId}`],
  );

/** No connection of the test database is left inside a transaction. */
async function expectNoOpenTransaction(): Promise<void> {
  const rows = await ownerRows<{ state: string }>(
    `select state from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'`,
  );
  expect(rows).toEqual([]);
}

function taskOf(o: { orgId: string; userId: string; boardId: string }, listId: string, position: string, extra: Partial<Task> = {}): Task {
  const now = new Date();
  return {
    id: randomUUID(),
    orgId: o.orgId,
    boardId: o.boardId,
    listId,
    position,
    title: 'raw',
    description: '',
    status: 'TODO',
    priority: 'LOW',
    assignees: [],
    labels: [],
    dueTime: null,
    archived: false,
    creatorId: o.userId,
    createRequestId: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    ...extra,
  } as Task;
}

const store = new SqlTaskStore();
/** Writes `task` as it is through the store's create (no rules), with its events. */
const writeAsIs = (orgId: string, task: Task, actorId: string) =>
  store.create({ em: f.db.em, org: { id: orgId } }, task.listId, '', () => ({ task, events: taskCreatedEvents(task, actorId) }));

describe('row-level security on the write path', () => {
  it('shows a write transaction nothing of another org, even from a statement without an org filter', async ({ skip }) => {
    if (!admin) skip();
    const a = f.newOrg();
    const b = f.newOrg();
    const theirs = await f.tasks.create(f.scope(b.orgId, b.userId), b.boardId, draft(b.listIds[0]!, 'theirs'), '');
    const seen = await withOrgConnection(f.db.em, a.orgId, async (tx) => (await tx.query(sql`select id from tasks where list_id = ${b.listIds[0]}::uuid for update`)).rows);
    expect(seen).toEqual([]);
    // Through the use cases: another org's task is NOT_FOUND to move, update and delete, and stays as it was.
    const s = f.scope(a.orgId, a.userId);
    expect(await codeOf(f.tasks.move(s, b.boardId, theirs.id, {}, ''))).toBe(GrpcCode.NOT_FOUND);
    f.boards.get(a.orgId)!.set(b.boardId, new Set(b.listIds));
    expect(await codeOf(f.tasks.move(s, b.boardId, theirs.id, {}, ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.update(s, b.boardId, theirs.id, { fields: ['title'], values: { title: 'mine' } }, ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.delete(s, b.boardId, theirs.id, ''))).toBe(GrpcCode.NOT_FOUND);
    // A create in their list from org A lands in org A (the key read sees none of their tasks).
    const mine = await f.tasks.create(s, b.boardId, draft(b.listIds[0]!, 'mine'), '');
    expect(mine.orgId).toBe(a.orgId);
    expect(await ownerRows('select title, version from task.tasks where id = $1', [theirs.id])).toEqual([{ title: 'theirs', version: 1 }]);
    await expectNoOpenTransaction();
  });

  it('refuses to insert a task of another org (WITH CHECK), writing no event either', async ({ skip }) => {
    if (!admin) skip();
    const a = f.newOrg();
    const b = f.newOrg();
    const foreign = taskOf(b, b.listIds[0]!, 'a0');
    expect(await codeOf(writeAsIs(a.orgId, foreign, a.userId))).toBe('42501');
    expect(await ownerRows('select id from task.tasks where id = $1', [foreign.id])).toEqual([]);
    expect(await eventsOf(foreign.id)).toEqual([]);
    await expectNoOpenTransaction();
  });
});

describe('creating through the store', () => {
  it('writes the task and the TaskCreated/TaskAssigned bytes of the task it returns, and nudges the relay', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const before = f.commits;
    const due = new Date('2027-01-02T03:04:05.678Z');
    const t = await f.tasks.create(
      f.scope(o.orgId, o.userId),
      o.boardId,
      draft(o.listIds[0]!, "it's \\ odd", { assignees: [o.userId], labels: ['x', "y'"], dueTime: due, description: 'é ✓' }),
      '',
    );
    expect(f.commits).toBe(before + 1);
    const events = await eventsOf(t.id);
    expect(events.map((e) => e.type)).toEqual(['taskmesh.task.v1.TaskCreated', 'taskmesh.task.v1.TaskAssigned']);
    expect(Buffer.compare(events[0]!.payload, Buffer.from(TaskCreated.encode({ task: toTaskMessage(t) }).finish()))).toBe(0);
    expect(events[0]).toMatchObject({ organization: `organizations/${o.orgId}`, actor: `users/${o.userId}` });
    // What was stored reads back as what was returned.
    expect(toTaskMessage((await f.tasks.get(f.scope(o.orgId, o.userId), o.boardId, t.id))!)).toEqual(toTaskMessage(t));
  });

  it('writes nothing when the outbox insert fails after the task insert', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    // Make the outbox refuse this user's events: the task insert succeeds first, in the same statement.
    await ownerRows(`alter table task.outbox add constraint test_refuse_actor check (actor <> 'users/${o.userId}')`);
    try {
      const made = f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'half'), '');
      expect((await failure(made)).code).toBe('23514');
    } finally {
      await ownerRows('alter table task.outbox drop constraint test_refuse_actor');
    }
    expect(await ownerRows('select id from task.tasks where org_id = $1', [o.orgId])).toEqual([]);
    await expectNoOpenTransaction();
    // The connection it used is fine for the next write.
    expect((await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'whole'), '')).title).toBe('whole');
  });

  it('writes no event for a task whose key was taken, and reports it', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const first = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'first'), '');
    const clash = taskOf(o, o.listIds[0]!, first.position);
    // The key stays taken on every retry: the store gives up with ABORTED.
    expect(await codeOf(writeAsIs(o.orgId, clash, o.userId))).toBe(GrpcCode.ABORTED);
    expect(await ownerRows('select id from task.tasks where id = $1', [clash.id])).toEqual([]);
    expect(await eventsOf(clash.id)).toEqual([]);
    await expectNoOpenTransaction();
  });

  it('retries concurrent creates and moves into one list until each has its own key, one event each', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const s = () => f.scope(o.orgId, o.userId);
    const list = o.listIds[0]!;
    const created = await Promise.all(Array.from({ length: 8 }, (_, i) => f.tasks.create(s(), o.boardId, draft(list, `c${i}`), '')));
    const others = [];
    for (let i = 0; i < 6; i++) others.push(await f.tasks.create(s(), o.boardId, draft(o.listIds[1]!, `m${i}`), ''));
    const moved = await Promise.all(others.map((t) => f.tasks.move(s(), o.boardId, t.id, { listId: list }, '')));
    const rows = await ownerRows<{ id: string; position: string }>(
      'select id, position from task.tasks where org_id = $1 and list_id = $2 order by position collate "C"',
      [o.orgId, list],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...created, ...moved].map((t) => t.id).sort());
    expect(new Set(rows.map((r) => r.position)).size).toBe(14);
    // Every move went to the end: the moved tasks follow every created one.
    expect(rows.slice(8).map((r) => r.id).sort()).toEqual(moved.map((t) => t.id).sort());
    for (const t of created) expect((await eventsOf(t.id)).map((e) => e.type)).toEqual(['taskmesh.task.v1.TaskCreated']);
    for (const t of moved) {
      const events = await eventsOf(t.id);
      expect(events.map((e) => e.type)).toEqual(['taskmesh.task.v1.TaskCreated', 'taskmesh.task.v1.TaskMoved']);
      expect(TaskMoved.decode(events[1]!.payload).newPosition).toBe(t.position);
    }
    await expectNoOpenTransaction();
  });

  it('answers a retried request id with the first task, once stored, even after its list is gone', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const requestId = randomUUID();
    const first = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'once'), requestId);
    const commits = f.commits;
    const again = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'twice'), requestId);
    expect(again).toMatchObject({ id: first.id, title: 'once' });
    f.boards.get(o.orgId)!.get(o.boardId)!.delete(o.listIds[0]!);
    expect((await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'late'), requestId)).id).toBe(first.id);
    expect(f.commits).toBe(commits);
    expect(await ownerRows('select id from task.tasks where org_id = $1', [o.orgId])).toEqual([{ id: first.id }]);
    expect((await eventsOf(first.id)).length).toBe(1);
    await expectNoOpenTransaction();
  });
});

describe('moving, updating and deleting through the store', () => {
  it('moves before and after anchors, updates with its events, deletes with its comments, each nudging the relay once', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const s = () => f.scope(o.orgId, o.userId);
    const t = [];
    for (const title of ['a', 'b', 'c']) t.push(await f.tasks.create(s(), o.boardId, draft(o.listIds[0]!, title), ''));
    let commits = f.commits;
    // c before a; then a after c (already there: no change, no event, no commit).
    const moved = await f.tasks.move(s(), o.boardId, t[2]!.id, { beforeTaskId: t[0]!.id }, `v${t[2]!.version}`);
    expect(f.commits).toBe(++commits);
    expect(moved.version).toBe(2);
    const same = await f.tasks.move(s(), o.boardId, t[0]!.id, { afterTaskId: t[2]!.id }, '');
    expect(same.version).toBe(1);
    expect(f.commits).toBe(commits);
    const order = await ownerRows<{ id: string }>('select id from task.tasks where org_id = $1 order by position collate "C"', [o.orgId]);
    expect(order.map((r) => r.id)).toEqual([t[2]!.id, t[0]!.id, t[1]!.id]);
    // A stale etag: ABORTED, nothing written.
    expect(await codeOf(f.tasks.move(s(), o.boardId, t[2]!.id, { listId: o.listIds[1]! }, 'v1'))).toBe(GrpcCode.ABORTED);

    const updated = await f.tasks.update(s(), o.boardId, t[1]!.id, { fields: ['title', 'status', 'assignees'], values: { title: 'B', status: 'IN_PROGRESS', assignees: [o.userId] } }, 'v1');
    expect(f.commits).toBe(++commits);
    expect(updated).toMatchObject({ title: 'B', status: 'IN_PROGRESS', assignees: [o.userId], version: 2 });
    expect((await eventsOf(t[1]!.id)).map((e) => e.type)).toEqual([
      'taskmesh.task.v1.TaskCreated',
      'taskmesh.task.v1.TaskUpdated',
      'taskmesh.task.v1.TaskStatusChanged',
      'taskmesh.task.v1.TaskAssigned',
    ]);
    expect(await ownerRows('select title, status, assignees, version from task.tasks where id = $1', [t[1]!.id])).toEqual([
      { title: 'B', status: 'IN_PROGRESS', assignees: [o.userId], version: 2 },
    ]);

    await f.tasks.addComment(s(), o.boardId, t[1]!.id, 'a comment', '');
    expect(f.commits).toBe(++commits);
    await f.tasks.delete(s(), o.boardId, t[1]!.id, 'v2');
    expect(f.commits).toBe(++commits);
    expect(await ownerRows('select id from task.tasks where id = $1', [t[1]!.id])).toEqual([]);
    expect(await ownerRows('select id from task.comments where task_id = $1', [t[1]!.id])).toEqual([]);
    expect((await eventsOf(t[1]!.id)).map((e) => e.type).at(-1)).toBe('taskmesh.task.v1.TaskDeleted');
    await expectNoOpenTransaction();
  });
});

describe('comments through the store', () => {
  const commentEvents = (commentId: string) =>
    ownerRows<{ type: string; payload: Buffer }>(`select type, payload from task.outbox where resource like $1 order by seq`, [`%/comments/${commentId}`]);

  it('adds once per request id (concurrent retries included), with its event, and deletes with its event', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const s = () => f.scope(o.orgId, o.userId);
    const t = await f.tasks.create(s(), o.boardId, draft(o.listIds[0]!, 'commented'), '');
    const commits = f.commits;
    const requestId = randomUUID();
    const added = await Promise.all(Array.from({ length: 6 }, () => f.tasks.addComment(s(), o.boardId, t.id, "it's one", requestId)));
    expect(new Set(added.map((c) => c.id)).size).toBe(1);
    expect(f.commits).toBe(commits + 1);
    const rows = await ownerRows<{ id: string; seq: string }>('select id, seq from task.comments where task_id = $1', [t.id]);
    expect(rows).toEqual([{ id: added[0]!.id, seq: expect.any(String) }]);
    const [event] = await commentEvents(added[0]!.id);
    expect(event!.type).toBe('taskmesh.task.v1.CommentAdded');
    expect(Buffer.compare(event!.payload, Buffer.from(CommentAdded.encode({ comment: toCommentMessage(added[0]!) }).finish()))).toBe(0);
    const page = await f.tasks.listComments(s(), o.boardId, t.id, 10, '');
    expect(page.items.map((c) => [c.id, c.seq])).toEqual([[added[0]!.id, rows[0]!.seq]]);

    await f.tasks.deleteComment(s(), o.boardId, t.id, added[0]!.id);
    expect(f.commits).toBe(commits + 2);
    expect(await ownerRows('select id from task.comments where task_id = $1', [t.id])).toEqual([]);
    expect((await commentEvents(added[0]!.id)).map((e) => e.type)).toEqual(['taskmesh.task.v1.CommentAdded', 'taskmesh.task.v1.CommentDeleted']);
    expect(await codeOf(f.tasks.deleteComment(s(), o.boardId, t.id, added[0]!.id))).toBe(GrpcCode.NOT_FOUND);
    await expectNoOpenTransaction();
  });

  it('answers NOT_FOUND to comments on another org\'s task, and to deleting its comments, writing nothing', async ({ skip }) => {
    if (!admin) skip();
    const a = f.newOrg();
    const b = f.newOrg();
    const theirs = await f.tasks.create(f.scope(b.orgId, b.userId), b.boardId, draft(b.listIds[0]!, 'theirs'), '');
    const theirComment = await f.tasks.addComment(f.scope(b.orgId, b.userId), b.boardId, theirs.id, 'theirs', '');
    f.boards.get(a.orgId)!.set(b.boardId, new Set(b.listIds));
    const s = f.scope(a.orgId, a.userId);
    expect(await codeOf(f.tasks.addComment(s, b.boardId, theirs.id, 'mine', ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.deleteComment(s, b.boardId, theirs.id, theirComment.id))).toBe(GrpcCode.NOT_FOUND);
    expect(await ownerRows('select body from task.comments where task_id = $1', [theirs.id])).toEqual([{ body: 'theirs' }]);
    await expectNoOpenTransaction();
  });
});

describe('rows named with another board or task of the same org', () => {
  it('answers NOT_FOUND (or INVALID_ARGUMENT for an anchor) and changes nothing', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    const otherBoard = randomUUID();
    f.boards.get(o.orgId)!.set(otherBoard, new Set([randomUUID()]));
    const s = () => f.scope(o.orgId, o.userId);
    const t = await f.tasks.create(s(), o.boardId, draft(o.listIds[0]!, 't'), '');
    const u = await f.tasks.create(s(), o.boardId, draft(o.listIds[1]!, 'u'), '');
    const other = await f.tasks.create(s(), o.boardId, draft(o.listIds[0]!, 'other'), '');
    const comment = await f.tasks.addComment(s(), o.boardId, t.id, 'c', '');
    let commits = f.commits;
    expect(await codeOf(f.tasks.move(s(), otherBoard, t.id, {}, ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.update(s(), otherBoard, t.id, { fields: ['title'], values: { title: 'x' } }, ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.delete(s(), otherBoard, t.id, ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.addComment(s(), otherBoard, t.id, 'c', ''))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(f.tasks.deleteComment(s(), o.boardId, other.id, comment.id))).toBe(GrpcCode.NOT_FOUND);
    // An anchor that is not on the board: the move is refused on the anchor field.
    const onOtherBoard = taskOf({ ...o, boardId: otherBoard }, o.listIds[1]!, 'zz');
    await writeAsIs(o.orgId, onOtherBoard, o.userId);
    commits = f.commits;
    await expect(f.tasks.move(s(), o.boardId, u.id, { listId: o.listIds[1]!, beforeTaskId: onOtherBoard.id }, '')).rejects.toMatchObject({
      violations: [{ field: 'before_task' }],
    });
    expect(f.commits).toBe(commits);
    expect(await ownerRows('select title, version from task.tasks where id = any($1) order by title', [[t.id, u.id]])).toEqual([
      { title: 't', version: 1 },
      { title: 'u', version: 1 },
    ]);
    expect(await ownerRows('select id from task.comments where id = $1', [comment.id])).toEqual([{ id: comment.id }]);
    await expectNoOpenTransaction();
  });

  it('locks a task through the primary key, even before the table has statistics', async ({ skip }) => {
    if (!admin) skip();
    const o = f.newOrg();
    // Thousands of one board's tasks, straight in, no ANALYZE: the plan that filtered the whole board by id.
    await ownerRows(
      `insert into task.tasks (id, org_id, board_id, list_id, position, title, status, priority, creator_id, version, created_at, updated_at)
       select gen_random_uuid(), $1, $2, $3, 'a' || lpad(i::text, 6, '0'), 't', 'TODO', 'LOW', $4, 1, now(), now() from generate_series(1, 3000) i`,
      [o.orgId, o.boardId, o.listIds[0], o.userId],
    );
    const [{ id }] = await ownerRows<{ id: string }>('select id from task.tasks where org_id = $1 limit 1', [o.orgId]);
    // The store's lock: by org and id (db/task-store.ts, SqlTaskStore.locked).
    const plan = await ownerRows<{ 'QUERY PLAN': string }>(`explain select * from task.tasks t where t.org_id = $1 and t.id = $2 for update`, [o.orgId, id]);
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Index Scan using tasks_pkey/);
  });
});
