import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { Priority, TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { BatchUpdateTasksRequest, CreateTaskRequest, GetTaskRequest } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import {
  Role,
  addMember,
  call,
  codeOf,
  createBoard,
  createOrg,
  failure,
  outbox,
  reasonOf,
  signUp,
  startHarness,
  violationsOf,
  type Harness,
  type TestUser,
} from './harness.ts';

// BatchUpdateTasks (AIP-235) over gRPC and through the REST edge: rules, all-or-nothing, roles and isolation.

let h: Harness;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let viewer: TestUser;
let outsider: TestUser;
let org: string;
let board: string;
let lists: string[];
let otherBoard: { board: string; lists: string[] };
let outsiderBoard: { board: string; lists: string[] };

beforeAll(async () => {
  h = await startHarness({ rest: true });
  [owner, admin, member, viewer, outsider] = await Promise.all(['owner', 'admin', 'member', 'viewer', 'outsider'].map((label) => signUp(h, label)));
  org = await createOrg(h, owner);
  await addMember(h, org, owner, admin, Role.ROLE_ADMIN);
  await addMember(h, org, owner, member, Role.ROLE_MEMBER);
  await addMember(h, org, owner, viewer, Role.ROLE_VIEWER);
  ({ board, lists } = await createBoard(h, org, owner, ['To do', 'Done']));
  otherBoard = await createBoard(h, org, owner, ['Elsewhere']);
  const outsiderOrg = await createOrg(h, outsider, 'Other Co');
  outsiderBoard = await createBoard(h, outsiderOrg, outsider, ['Theirs']);
}, 120_000);
afterAll(async () => {
  await h?.close();
});

const create = (title: string, who: TestUser = owner, parent = board, list = lists[0]) =>
  call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent, task: { list, title, priority: Priority.PRIORITY_MEDIUM } }), who).then((r) => r.task!);
const get = (name: string) => call(h, (c) => c.getTask, GetTaskRequest.fromPartial({ name }), owner).then((r) => r.task!);
type Item = { task: Partial<Task> & { name: string }; updateMask: string[] };
const batch = (requests: Item[], who: TestUser = admin, parent = board) =>
  call(h, (c) => c.batchUpdateTasks, BatchUpdateTasksRequest.fromPartial({ parent, requests }), who);

/** POST …/tasks:batchUpdate through the REST edge as `who`. */
async function rest(who: TestUser, parent: string, body: unknown): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${h.url}/v1/${parent}/tasks:batchUpdate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** The task service's outbox rows about these tasks, by type. */
async function eventsAbout(names: string[]): Promise<{ type: string; resource: string; payload: Buffer }[]> {
  return (await outbox(h)).filter((row) => names.includes(row.resource));
}

describe('BatchUpdateTasks', () => {
  it('updates several tasks over gRPC in one call, with one TaskUpdated per task actually changed', async () => {
    const [a, b, c] = await Promise.all(['batch a', 'batch b', 'batch c'].map((title) => create(title)));
    const { tasks } = await batch([
      { task: { name: a!.name, title: 'batch a, retitled' }, updateMask: ['title'] },
      { task: { name: b!.name, priority: Priority.PRIORITY_URGENT, labels: ['ops'] }, updateMask: ['priority', 'labels'] },
      // Already so: nothing changes, nothing is recorded.
      { task: { name: c!.name, title: 'batch c' }, updateMask: ['title'] },
    ]);
    expect(tasks.map((t) => t.name)).toEqual([a!.name, b!.name, c!.name]);
    expect(tasks[0]).toMatchObject({ title: 'batch a, retitled', etag: 'v2' });
    expect(tasks[1]).toMatchObject({ priority: Priority.PRIORITY_URGENT, labels: ['ops'], etag: 'v2' });
    expect(tasks[2]).toMatchObject({ title: 'batch c', etag: 'v1' });
    expect(await get(b!.name)).toMatchObject({ priority: Priority.PRIORITY_URGENT, labels: ['ops'] });

    const updated = (await eventsAbout([a!.name, b!.name, c!.name])).filter((e) => e.type === 'taskmesh.task.v1.TaskUpdated');
    expect(updated.map((e) => e.resource)).toEqual([a!.name, b!.name]);
    expect(TaskUpdated.decode(updated[1]!.payload).changes.map((ch) => ch.field)).toEqual(['priority', 'labels']);
  });

  it('takes the route and JSON of API.md through the REST edge, camelCase masks included', async () => {
    const [a, b] = await Promise.all(['rest a', 'rest b'].map((title) => create(title, member)));
    const res = await rest(owner, board, {
      requests: [
        { task: { name: a!.name, status: 'TASK_STATUS_IN_PROGRESS', etag: a!.etag }, updateMask: 'status' },
        { task: { name: b!.name, dueTime: '2031-02-03T04:05:06Z', archived: true }, updateMask: 'dueTime,archived' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.body.tasks.map((t: Record<string, unknown>) => [t.name, t.status, t.dueTime, t.archived])).toEqual([
      [a!.name, 'TASK_STATUS_IN_PROGRESS', undefined, false],
      [b!.name, 'TASK_STATUS_TODO', '2031-02-03T04:05:06Z', true],
    ]);
    expect((await get(a!.name)).status).toBe(TaskStatus.TASK_STATUS_IN_PROGRESS);
    expect((await get(b!.name)).archived).toBe(true);
  });

  it('refuses more than 100 requests (400) and an empty batch', async () => {
    const a = await create('limit');
    const many = Array.from({ length: 101 }, (_, i) => ({ task: { name: a.name, title: `t${i}` }, updateMask: 'title' }));
    const tooMany = await rest(admin, board, { requests: many });
    expect([tooMany.status, tooMany.body.code]).toEqual([400, status.INVALID_ARGUMENT]);
    expect(JSON.stringify(tooMany.body)).toContain('at most 100');
    const grpcTooMany = await failure(batch(many.map((r) => ({ ...r, updateMask: ['title'] }))));
    expect(grpcTooMany.code).toBe(status.INVALID_ARGUMENT);
    expect(violationsOf(grpcTooMany)).toContain('requests');
    expect((await rest(admin, board, { requests: [] })).status).toBe(400);
    expect((await get(a.name)).title).toBe('limit');

    // 100 distinct tasks are accepted.
    const hundred: Task[] = [];
    // A few at a time: creates racing for the end of one list retry, and a hundred at once would give up.
    for (let i = 0; i < 100; i += 4) hundred.push(...(await Promise.all([0, 1, 2, 3].map((j) => create(`hundred ${i + j}`)))));
    const { tasks } = await batch(hundred.map((t) => ({ task: { name: t.name, labels: ['bulk'] }, updateMask: ['labels'] })));
    expect(tasks.every((t) => t.labels[0] === 'bulk' && t.etag === 'v2')).toBe(true);
  }, 120_000);

  describe('all or nothing: one bad request leaves every task as it was', () => {
    const fixture = async () => {
      const tasks = await Promise.all(['first', 'second', 'third'].map((title) => create(`aon ${title}`)));
      const before = await outbox(h);
      return {
        tasks,
        good: tasks.slice(0, 2).map((t) => ({ task: { name: t.name, title: `${t.title} changed` }, updateMask: ['title'] })),
        /** Every task still as created, and no event written since the fixture. */
        async unchanged() {
          for (const t of tasks) expect(await get(t.name)).toMatchObject({ title: t.title, etag: 'v1', status: TaskStatus.TASK_STATUS_TODO });
          expect((await outbox(h)).length).toBe(before.length);
        },
      };
    };

    it('a field violation: INVALID_ARGUMENT naming the request', async () => {
      const f = await fixture();
      const err = await failure(batch([...f.good, { task: { name: f.tasks[2]!.name, title: '' }, updateMask: ['title'] }]));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(err)).toEqual(['requests[2].task.title']);
      const res = await rest(admin, board, { requests: [{ task: { name: f.tasks[0]!.name, title: 'ok' }, updateMask: 'title' }, { task: { name: f.tasks[1]!.name }, updateMask: 'list' }] });
      expect([res.status, res.body.code]).toEqual([400, status.INVALID_ARGUMENT]);
      expect(JSON.stringify(res.body)).toContain('requests[1].update_mask');
      await f.unchanged();
    });

    it('a status transition not allowed, found inside the transaction after the others were decided', async () => {
      const f = await fixture();
      const err = await failure(batch([...f.good, { task: { name: f.tasks[2]!.name, status: TaskStatus.TASK_STATUS_DONE }, updateMask: ['status'] }]));
      expect([err.code, reasonOf(err)]).toEqual([status.FAILED_PRECONDITION, 'INVALID_STATUS_TRANSITION']);
      await f.unchanged();
    });

    it('a stale etag: ABORTED', async () => {
      const f = await fixture();
      const err = await failure(batch([...f.good, { task: { name: f.tasks[2]!.name, title: 'x', etag: 'v9' }, updateMask: ['title'] }]));
      expect([err.code, reasonOf(err)]).toEqual([status.ABORTED, 'ETAG_MISMATCH']);
      await f.unchanged();
    });

    it('an assignee who is not a member: INVALID_ARGUMENT', async () => {
      const f = await fixture();
      const err = await failure(batch([...f.good, { task: { name: f.tasks[2]!.name, assignees: [outsider.name] }, updateMask: ['assignees'] }]));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(err)).toEqual(['requests[2].task.assignees']);
      await f.unchanged();
    });

    it('a task of another board, a repeated task, or a task that is not there', async () => {
      const elsewhere = await create('on the other board', owner, otherBoard.board, otherBoard.lists[0]);
      const f = await fixture();
      const wrongBoard = await failure(batch([...f.good, { task: { name: elsewhere.name, title: 'moved?' }, updateMask: ['title'] }]));
      expect(wrongBoard.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(wrongBoard)).toEqual(['requests[2].task.name']);
      expect((await get(elsewhere.name)).title).toBe('on the other board');

      const repeated = await failure(batch([...f.good, { task: { name: f.tasks[0]!.name, title: 'again' }, updateMask: ['title'] }]));
      expect([repeated.code, violationsOf(repeated)]).toEqual([status.INVALID_ARGUMENT, ['requests[2].task.name']]);

      const ghost = `${board}/tasks/00000000-0000-4000-8000-000000000000`;
      const missing = await failure(batch([...f.good, { task: { name: ghost, title: 'boo' }, updateMask: ['title'] }]));
      expect(missing.code).toBe(status.NOT_FOUND);
      expect(missing.details).toContain(ghost);
      await f.unchanged();
    });
  });

  describe('roles and isolation', () => {
    it('is for OWNER and ADMIN: a MEMBER (even of their own tasks) and a VIEWER get 403', async () => {
      const mine = await create('the member’s own', member);
      const request = { requests: [{ task: { name: mine.name, title: 'bulk edit' }, updateMask: 'title' }] };
      for (const who of [member, viewer]) {
        const res = await rest(who, board, request);
        expect([res.status, res.body.code]).toEqual([403, status.PERMISSION_DENIED]);
        expect(await codeOf(batch([{ task: { name: mine.name, title: 'bulk edit' }, updateMask: ['title'] }], who))).toBe(status.PERMISSION_DENIED);
      }
      expect((await get(mine.name)).title).toBe('the member’s own');
      expect((await rest(owner, board, request)).status).toBe(200);
    });

    it('answers 404 to another org’s member, and never touches another org’s tasks', async () => {
      const ours = await create('ours');
      const res = await rest(outsider, board, { requests: [{ task: { name: ours.name, title: 'taken over' }, updateMask: 'title' }] });
      expect([res.status, res.body.code]).toEqual([404, status.NOT_FOUND]);
      expect(await codeOf(batch([{ task: { name: ours.name, title: 'taken over' }, updateMask: ['title'] }], outsider))).toBe(status.NOT_FOUND);

      // Our admin naming the other org's task under our board, or the other org's board: nothing there is revealed or changed.
      const theirs = await create('theirs', outsider, outsiderBoard.board, outsiderBoard.lists[0]);
      const crossName = await failure(batch([{ task: { name: theirs.name, title: 'ours now' }, updateMask: ['title'] }], admin));
      expect([crossName.code, violationsOf(crossName)]).toEqual([status.INVALID_ARGUMENT, ['requests[0].task.name']]);
      const crossParent = await rest(admin, outsiderBoard.board, { requests: [{ task: { name: theirs.name, title: 'ours now' }, updateMask: 'title' }] });
      expect([crossParent.status, crossParent.body.code]).toEqual([404, status.NOT_FOUND]);
      const check = await call(h, (c) => c.getTask, GetTaskRequest.fromPartial({ name: theirs.name }), outsider);
      expect(check.task).toMatchObject({ title: 'theirs', etag: 'v1' });
      expect((await get(ours.name)).title).toBe('ours');
    });

    it('answers 401 without a token', async () => {
      const res = await fetch(`${h.url}/v1/${board}/tasks:batchUpdate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"requests":[]}' });
      expect(res.status).toBe(401);
    });
  });
});
