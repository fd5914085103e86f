import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteBoardRequest, DeleteListRequest, MoveListRequest } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { Priority, TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import {
  CreateCommentRequest,
  CreateTaskRequest,
  DeleteCommentRequest,
  DeleteTaskRequest,
  GetTaskRequest,
  ListCommentsRequest,
  ListTasksRequest,
  MoveTaskRequest,
  SearchTasksRequest,
  UpdateTaskRequest,
  CountListTasksRequest,
} from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
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

let h: Harness;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let otherMember: TestUser;
let viewer: TestUser;
let orgName: string;
let board: string;
let lists: string[];
let otherBoard: { board: string; lists: string[] };

beforeAll(async () => {
  h = await startHarness();
  [owner, admin, member, otherMember, viewer] = await Promise.all(
    ['owner', 'admin', 'member', 'other', 'viewer'].map((label) => signUp(h, label)),
  );
  orgName = await createOrg(h, owner);
  await addMember(h, orgName, owner, admin, Role.ROLE_ADMIN);
  await addMember(h, orgName, owner, member, Role.ROLE_MEMBER);
  await addMember(h, orgName, owner, otherMember, Role.ROLE_MEMBER);
  await addMember(h, orgName, owner, viewer, Role.ROLE_VIEWER);
  ({ board, lists } = await createBoard(h, orgName, owner, ['To do', 'Doing', 'Done']));
  otherBoard = await createBoard(h, orgName, owner, ['Elsewhere']);
});
afterAll(async () => {
  await h?.close();
});

const create = (task: Partial<Task>, who: TestUser = owner, extra: { parent?: string; requestId?: string } = {}) =>
  call(
    h,
    (c) => c.createTask,
    CreateTaskRequest.fromPartial({
      parent: extra.parent ?? board,
      task: { list: lists[0], priority: Priority.PRIORITY_MEDIUM, ...task },
      requestId: extra.requestId ?? '',
    }),
    who,
  ).then((r) => r.task!);
const get = (name: string, who: TestUser = owner) => call(h, (c) => c.getTask, GetTaskRequest.fromPartial({ name }), who).then((r) => r.task!);
const update = (task: Partial<Task> & { name: string }, mask: string[], who: TestUser = owner) =>
  call(h, (c) => c.updateTask, UpdateTaskRequest.fromPartial({ task, updateMask: mask }), who).then((r) => r.task!);
const move = (name: string, target: { list?: string; beforeTask?: string; afterTask?: string; etag?: string }, who: TestUser = owner) =>
  call(h, (c) => c.moveTask, MoveTaskRequest.fromPartial({ name, ...target }), who).then((r) => r.task!);
const listBoard = (req: Partial<ListTasksRequest> = {}, who: TestUser = owner) =>
  call(h, (c) => c.listTasks, ListTasksRequest.fromPartial({ parent: board, pageSize: 500, ...req }), who);

describe('a Kanban board through the generated client', () => {
  it('creates tasks at the end of their list as TODO, moves them, and lists them by list then position', async () => {
    const { board: b, lists: [todo, doing] } = await createBoard(h, orgName, owner, ['To do', 'Doing']);
    const on = (t: Partial<Task>) => call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: b, task: { priority: Priority.PRIORITY_LOW, ...t } }), owner).then((r) => r.task!);
    const a = await on({ list: todo, title: 'A' });
    const bTask = await on({ list: todo, title: 'B' });
    const c = await on({ list: todo, title: 'C' });
    expect(a).toMatchObject({ status: TaskStatus.TASK_STATUS_TODO, creator: owner.name, list: todo });
    expect(a.name).toMatch(new RegExp(`^${b}/tasks/[0-9a-f-]{36}$`));
    await move(c.name, { beforeTask: a.name });
    await move(bTask.name, { list: doing });
    await move(a.name, { list: doing, beforeTask: bTask.name });
    const all = await call(h, (cl) => cl.listTasks, ListTasksRequest.fromPartial({ parent: b }), owner);
    const byList = (list: string) => all.tasks.filter((t) => t.list === list).map((t) => t.title);
    expect(byList(todo!)).toEqual(['C']);
    expect(byList(doing!)).toEqual(['A', 'B']);
    // Lists in board order, each by position; it follows the board when its lists are reordered.
    expect(all.tasks.map((t) => t.title)).toEqual(['C', 'A', 'B']);
    await callUnary(h.boardClient, h.boardClient.moveList, MoveListRequest.fromPartial({ name: doing, beforeList: todo }), { metadata: owner.auth });
    await h.board.relay.flush();
    const titles: string[] = [];
    let pageToken = '';
    do {
      const page = await call(h, (cl) => cl.listTasks, ListTasksRequest.fromPartial({ parent: b, pageSize: 1, pageToken }), viewer);
      titles.push(...page.tasks.map((t) => t.title));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(titles).toEqual(['A', 'B', 'C']);
  });

  it('walks the status workflow and refuses a skipped step with FAILED_PRECONDITION', async () => {
    const t = await create({ title: 'workflow' });
    const to = (s: TaskStatus) => update({ name: t.name, status: s }, ['status']);
    const err = await failure(to(TaskStatus.TASK_STATUS_DONE));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(reasonOf(err)).toBe('INVALID_STATUS_TRANSITION');
    expect((await to(TaskStatus.TASK_STATUS_IN_PROGRESS)).status).toBe(TaskStatus.TASK_STATUS_IN_PROGRESS);
    expect((await to(TaskStatus.TASK_STATUS_DONE)).status).toBe(TaskStatus.TASK_STATUS_DONE);
    expect(await codeOf(to(TaskStatus.TASK_STATUS_TODO))).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf(to(TaskStatus.TASK_STATUS_UNSPECIFIED))).toBe(status.INVALID_ARGUMENT);
  });

  it('updates through the mask, changes the etag, answers ABORTED to a stale one, and records old → new', async () => {
    const t = await create({ title: 'before', labels: ['x'] });
    const due = new Date('2030-01-02T03:04:05.000Z');
    const u = await update({ name: t.name, title: 'after', labels: ['y', 'z'], dueTime: due, assignees: [member.name], etag: t.etag }, [
      'title',
      'labels',
      'dueTime',
      'assignees',
    ]);
    expect(u).toMatchObject({ title: 'after', labels: ['y', 'z'], dueTime: due, assignees: [member.name] });
    expect(u.etag).not.toBe(t.etag);
    const stale = await failure(update({ name: t.name, title: 'again', etag: t.etag }, ['title']));
    expect(stale.code).toBe(status.ABORTED);
    const events = (await outbox(h)).filter((e) => e.resource === t.name);
    expect(events.map((e) => e.type)).toEqual([
      'taskmesh.task.v1.TaskCreated',
      'taskmesh.task.v1.TaskUpdated',
      'taskmesh.task.v1.TaskAssigned',
    ]);
    expect(TaskUpdated.decode(events[1]!.payload).changes).toEqual([
      { field: 'title', oldValue: 'before', newValue: 'after' },
      { field: 'labels', oldValue: ['x'], newValue: ['y', 'z'] },
      { field: 'due_time', oldValue: null, newValue: '2030-01-02T03:04:05.000Z' },
      { field: 'assignees', oldValue: [], newValue: [member.name] },
    ]);
    const listField = await failure(update({ name: t.name, list: lists[1] }, ['list']));
    expect(violationsOf(listField)).toEqual(['update_mask']);
  });

  it('returns the first task for a create retried concurrently with one request id', async () => {
    const requestId = randomUUID();
    const results = await Promise.all([1, 2, 3].map(() => create({ title: 'once' }, owner, { requestId })));
    expect(new Set(results.map((t) => t.name)).size).toBe(1);
  });

  it('leaves a task moved to where it already is untouched', async () => {
    const { board: b, lists: [l] } = await createBoard(h, orgName, owner, ['Still']);
    const on = (title: string) =>
      call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: b, task: { list: l, title, priority: Priority.PRIORITY_LOW } }), owner).then((r) => r.task!);
    const first = await on('first');
    const second = await on('second');
    expect(await move(second.name, { afterTask: first.name })).toEqual(second);
    expect(await move(second.name, {})).toEqual(second);
    const moved = await move(first.name, { afterTask: second.name, etag: first.etag });
    expect(moved.etag).not.toBe(first.etag);
    expect(await codeOf(move(first.name, { beforeTask: second.name, etag: first.etag }))).toBe(status.ABORTED);
  });

  it('creates a task with only a list and a title, at priority MEDIUM', async () => {
    const t = await create({ title: 'bare', priority: Priority.PRIORITY_UNSPECIFIED });
    expect(t.priority).toBe(Priority.PRIORITY_MEDIUM);
    expect((await get(t.name)).priority).toBe(Priority.PRIORITY_MEDIUM);
  });

  it('validates content with field violations', async () => {
    const err = await failure(
      create({
        title: '',
        description: 'd'.repeat(20_001),
        priority: 99 as Priority,
        assignees: Array.from({ length: 21 }, () => `users/${randomUUID()}`),
        labels: Array.from({ length: 21 }, (_, i) => `l${i}`),
      }),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(new Set(violationsOf(err))).toEqual(new Set(['task.title', 'task.description', 'task.priority', 'task.assignees', 'task.labels']));
    expect(violationsOf(await failure(create({ title: 'x'.repeat(501) })))).toEqual(['task.title']);
    expect(violationsOf(await failure(create({ title: 't', list: otherBoard.lists[0] })))).toEqual(['task.list']);
    expect(violationsOf(await failure(create({ title: 't', list: `${board}/lists/${randomUUID()}` })))).toEqual(['task.list']);
    expect(violationsOf(await failure(create({ title: 't', assignees: [`users/${randomUUID()}`] })))).toEqual(['task.assignees']);
    const t = await create({ title: 'anchor' });
    expect(violationsOf(await failure(move(t.name, { list: otherBoard.lists[0] })))).toEqual(['list']);
  });

  it('adds comments, lists them oldest first in pages, and deletes them', async () => {
    const t = await create({ title: 'discussed' });
    const add = (body: string, who: TestUser = owner) =>
      call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: t.name, comment: { body } }), who).then((r) => r.comment!);
    const first = await add('first');
    await add('second', member);
    await add('third');
    const page1 = await call(h, (c) => c.listComments, ListCommentsRequest.fromPartial({ parent: t.name, pageSize: 2 }), viewer);
    const page2 = await call(h, (c) => c.listComments, ListCommentsRequest.fromPartial({ parent: t.name, pageSize: 2, pageToken: page1.nextPageToken }), viewer);
    expect([...page1.comments, ...page2.comments].map((c) => c.body)).toEqual(['first', 'second', 'third']);
    expect(page2.nextPageToken).toBe('');
    expect(first.author).toBe(owner.name);
    expect(violationsOf(await failure(add('')))).toEqual(['comment.body']);
    const requestId = randomUUID();
    const retried = await Promise.all(
      [1, 2].map(() => call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: t.name, comment: { body: 'once' }, requestId }), owner)),
    );
    expect(retried[0]!.comment!.name).toBe(retried[1]!.comment!.name);
    await call(h, (c) => c.deleteComment, DeleteCommentRequest.fromPartial({ name: retried[0]!.comment!.name }), owner);
    await call(h, (c) => c.deleteComment, DeleteCommentRequest.fromPartial({ name: first.name }), admin);
    const rest = await call(h, (c) => c.listComments, ListCommentsRequest.fromPartial({ parent: t.name }), owner);
    expect(rest.comments.map((c) => c.body)).toEqual(['second', 'third']);
  });

  it('searches the org by words, best match first, with assignee, status and due filters', async () => {
    const word = `zebra${Date.now()}`;
    const title = await create({ title: `${word} crossing`, assignees: [member.name], dueTime: new Date('2030-01-01T00:00:00Z') });
    const body = await create({ title: 'other', description: `about a ${word}` });
    const search = (req: Partial<SearchTasksRequest>) =>
      call(h, (c) => c.searchTasks, SearchTasksRequest.fromPartial({ parent: orgName, ...req }), viewer).then((r) => r.tasks.map((t) => t.name));
    expect(await search({ query: word })).toEqual([title.name, body.name]);
    expect(await search({ query: word, assignee: member.name })).toEqual([title.name]);
    expect(await search({ query: word, dueBefore: new Date('2031-01-01T00:00:00Z') })).toEqual([title.name]);
    expect(await search({ query: word, status: TaskStatus.TASK_STATUS_DONE })).toEqual([]);
  });

  it('deletes a task with its comments; it is NOT_FOUND afterwards', async () => {
    const t = await create({ title: 'doomed' });
    await call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: t.name }), owner);
    expect(await codeOf(get(t.name))).toBe(status.NOT_FOUND);
    expect((await outbox(h)).some((e) => e.type === 'taskmesh.task.v1.TaskDeleted' && e.resource === t.name)).toBe(true);
  });

  it('hides archived tasks from the listing unless asked for', async () => {
    const { board: b, lists: [l] } = await createBoard(h, orgName, owner, ['Only']);
    const t = await call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: b, task: { list: l, title: 'old', priority: Priority.PRIORITY_LOW } }), owner);
    await update({ name: t.task!.name, archived: true }, ['archived']);
    const listed = (showArchived: boolean) =>
      call(h, (c) => c.listTasks, ListTasksRequest.fromPartial({ parent: b, showArchived }), owner).then((r) => r.tasks.length);
    expect(await listed(false)).toBe(0);
    expect(await listed(true)).toBe(1);
  });
});

describe('boards and lists of the board service', () => {
  it('serves nothing of a deleted board', async () => {
    const { board: b, lists: [l] } = await createBoard(h, orgName, owner, ['Soon gone']);
    const word = `vanish${Date.now()}`;
    const t = (await call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: b, task: { list: l, title: word, priority: Priority.PRIORITY_LOW } }), owner)).task!;
    await callUnary(h.boardClient, h.boardClient.deleteBoard, DeleteBoardRequest.fromPartial({ name: b }), { metadata: owner.auth });
    // The task service keeps the board service's answers briefly; BoardDeleted evicts them. The in-process bus
    // resolves a publish once every subscriber handled the event.
    await h.board.relay.flush();
    expect(await codeOf(get(t.name))).toBe(status.NOT_FOUND);
    expect(await codeOf(call(h, (c) => c.listTasks, ListTasksRequest.fromPartial({ parent: b }), owner))).toBe(status.NOT_FOUND);
    expect(await codeOf(update({ name: t.name, title: 'x' }, ['title']))).toBe(status.NOT_FOUND);
    const found = await call(h, (c) => c.searchTasks, SearchTasksRequest.fromPartial({ parent: orgName, query: word }), owner);
    expect(found.tasks).toEqual([]);
  });

  it('lets the board service refuse to delete a list that holds tasks (CountListTasks)', async () => {
    const { lists: [l] } = await createBoard(h, orgName, owner, ['Busy']).then(async (created) => {
      await call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: created.board, task: { list: created.lists[0], title: 'busy', priority: Priority.PRIORITY_LOW } }), owner);
      return created;
    });
    const count = await call(h, (c) => c.countListTasks, CountListTasksRequest.fromPartial({ name: l }), owner);
    expect(count.taskCount).toBe(1);
    const err = await failure(callUnary(h.boardClient, h.boardClient.deleteList, DeleteListRequest.fromPartial({ name: l }), { metadata: owner.auth }));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
  });
});

describe('a list deleted with force', () => {
  it('takes its tasks and their comments with it, each with a TaskDeleted', async () => {
    const { board: b, lists: [doomed, kept] } = await createBoard(h, orgName, owner, ['Doomed', 'Kept']);
    const on = (list: string, title: string) =>
      call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: b, task: { list, title, priority: Priority.PRIORITY_LOW } }), owner).then((r) => r.task!);
    const gone = await on(doomed!, 'gone');
    await call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: gone.name, comment: { body: 'bye' } }), owner);
    const stays = await on(kept!, 'stays');
    await callUnary(h.boardClient, h.boardClient.deleteList, DeleteListRequest.fromPartial({ name: doomed, force: true }), { metadata: owner.auth });
    // The in-process bus resolves a publish once every subscriber handled the event.
    await h.board.relay.flush();
    expect(await codeOf(get(gone.name))).toBe(status.NOT_FOUND);
    expect((await get(stays.name)).title).toBe('stays');
    const deletions = (await outbox(h)).filter((e) => e.type === 'taskmesh.task.v1.TaskDeleted' && e.resource === gone.name);
    expect(deletions).toHaveLength(1);
    expect(deletions[0]!.actor).toBe(owner.name);
    // Read as the org (row-level security would hide the rows of any other).
    const asOrg = forkForOrg(h.task.db.em, orgName.split('/')[1]!);
    const countComments = async (task: Task) =>
      Number((await asOrg.execute<{ count: string }[]>('select count(*) from comments where task_id = ?', [task.name.split('/')[5]]))[0]!.count);
    expect(await countComments(gone)).toBe(0);
    await call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: stays.name, comment: { body: 'still here' } }), owner);
    expect(await countComments(stays)).toBe(1);
  });
});

describe('roles', () => {
  it('lets a MEMBER create, and edit, move and delete only what the rules allow', async () => {
    const own = await create({ title: 'mine' }, member);
    const assigned = await create({ title: 'assigned to me', assignees: [member.name] }, owner);
    const foreign = await create({ title: 'not mine' }, otherMember);
    expect((await update({ name: own.name, title: 'mine!' }, ['title'], member)).title).toBe('mine!');
    expect((await update({ name: assigned.name, title: 'on it' }, ['title'], member)).title).toBe('on it');
    expect((await move(assigned.name, { list: lists[1] }, member)).list).toBe(lists[1]);
    const denied = await failure(update({ name: foreign.name, title: 'hijack' }, ['title'], member));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(move(foreign.name, { list: lists[2] }, member))).toBe(status.PERMISSION_DENIED);
    // Assigned is not enough to delete: only the creator may.
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: assigned.name }), member))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: foreign.name }), member))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: own.name }), member))).toBe(0);
    expect((await get(foreign.name)).title).toBe('not mine');
    // ADMIN edits and deletes anything.
    expect(await codeOf(update({ name: foreign.name, title: 'by admin' }, ['title'], admin))).toBe(0);
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: foreign.name }), admin))).toBe(0);
  });

  it('lets a VIEWER read only', async () => {
    const t = await create({ title: 'look, do not touch' });
    expect((await get(t.name, viewer)).title).toBe('look, do not touch');
    expect(await codeOf(listBoard({}, viewer))).toBe(0);
    expect(await codeOf(create({ title: 'nope' }, viewer))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(update({ name: t.name, title: 'nope' }, ['title'], viewer))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(move(t.name, { list: lists[1] }, viewer))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: t.name }), viewer))).toBe(status.PERMISSION_DENIED);
    expect(
      await codeOf(call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: t.name, comment: { body: 'hi' } }), viewer)),
    ).toBe(status.PERMISSION_DENIED);
  });

  it('lets the author, an ADMIN or an OWNER delete a comment, and no other MEMBER', async () => {
    const t = await create({ title: 'talk' });
    const add = (who: TestUser) =>
      call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: t.name, comment: { body: 'x' } }), who).then((r) => r.comment!);
    const del = (name: string, who: TestUser) => codeOf(call(h, (c) => c.deleteComment, DeleteCommentRequest.fromPartial({ name }), who));
    const byMember = await add(member);
    expect(await del(byMember.name, otherMember)).toBe(status.PERMISSION_DENIED);
    expect(await del(byMember.name, viewer)).toBe(status.PERMISSION_DENIED);
    expect(await del(byMember.name, member)).toBe(0);
    expect(await del((await add(otherMember)).name, owner)).toBe(0);
  });

  it('answers NOT_FOUND, not PERMISSION_DENIED, to a MEMBER naming a task that is not there', async () => {
    const missing = `${board}/tasks/${randomUUID()}`;
    expect(await codeOf(update({ name: missing, title: 'x' }, ['title'], member))).toBe(status.NOT_FOUND);
    expect(await codeOf(call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name: missing }), member))).toBe(status.NOT_FOUND);
  });

  it('answers UNAUTHENTICATED without a token', async () => {
    expect(await codeOf(call(h, (c) => c.listTasks, ListTasksRequest.fromPartial({ parent: board })))).toBe(status.UNAUTHENTICATED);
  });
});

describe('isolation between organizations', () => {
  it('answers NOT_FOUND to every task RPC with real ids of another org, and changes nothing', async () => {
    const stranger = await signUp(h, 'stranger');
    const strangerOrg = await createOrg(h, stranger, 'Elsewhere Inc');
    const theirs = await createBoard(h, strangerOrg, stranger, ['Theirs']);
    const theirTask = (
      await call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: theirs.board, task: { list: theirs.lists[0], title: `secret${Date.now()}`, priority: Priority.PRIORITY_HIGH } }), stranger)
    ).task!;
    const theirComment = (
      await call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: theirTask.name, comment: { body: 'private' } }), stranger)
    ).comment!;
    const before = await get(theirTask.name, stranger);
    // Their names as they are, and their ids grafted under our org and our board.
    const ids = theirTask.name.split('/');
    const grafted = [theirTask.name, `${orgName}/boards/${ids[3]}/tasks/${ids[5]}`, `${board}/tasks/${ids[5]}`];
    for (const name of grafted) {
      const parentBoard = name.slice(0, name.indexOf('/tasks/'));
      const attempts: (() => Promise<unknown>)[] = [
        () => get(name),
        () => update({ name, title: 'pwned' }, ['title']),
        () => move(name, {}),
        () => move(name, { list: theirs.lists[0] }),
        () => call(h, (c) => c.deleteTask, DeleteTaskRequest.fromPartial({ name }), owner),
        () => call(h, (c) => c.createComment, CreateCommentRequest.fromPartial({ parent: name, comment: { body: 'x' } }), owner),
        () => call(h, (c) => c.listComments, ListCommentsRequest.fromPartial({ parent: name }), owner),
        () => call(h, (c) => c.deleteComment, DeleteCommentRequest.fromPartial({ name: `${name}/comments/${theirComment.name.split('/')[7]}` }), owner),
      ];
      // Our own board is ours to list; the others are not there for us.
      if (parentBoard !== board) attempts.push(() => call(h, (c) => c.listTasks, ListTasksRequest.fromPartial({ parent: parentBoard }), owner));
      // Creating on our own board in their list is refused as a list of another board, and creates nothing.
      const intoTheirList = () =>
        call(h, (c) => c.createTask, CreateTaskRequest.fromPartial({ parent: parentBoard, task: { list: theirs.lists[0], title: 'x', priority: Priority.PRIORITY_LOW } }), owner);
      expect(await codeOf(intoTheirList())).toBe(parentBoard === board ? status.INVALID_ARGUMENT : status.NOT_FOUND);
      for (const attempt of attempts) {
        const code = await codeOf(attempt());
        expect(code).toBe(status.NOT_FOUND);
      }
    }
    expect(await codeOf(call(h, (c) => c.searchTasks, SearchTasksRequest.fromPartial({ parent: strangerOrg, query: 'secret' }), owner))).toBe(status.NOT_FOUND);
    const ours = await call(h, (c) => c.searchTasks, SearchTasksRequest.fromPartial({ parent: orgName, query: before.title }), owner);
    expect(ours.tasks).toEqual([]);
    expect(await get(theirTask.name, stranger)).toEqual(before);
    const comments = await call(h, (c) => c.listComments, ListCommentsRequest.fromPartial({ parent: theirTask.name }), stranger);
    expect(comments.comments.map((c) => c.body)).toEqual(['private']);
  });
});
