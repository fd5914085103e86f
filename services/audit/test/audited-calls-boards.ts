import { status as GrpcCode } from '@grpc/grpc-js';
import { Board, List } from '@taskmesh/gen/taskmesh/board/v1/board.js';
import type { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { Comment } from '@taskmesh/gen/taskmesh/task/v1/comment.js';
import { Priority, Task, TaskStatus } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import type { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import type { AuditedCall, ExpectedAudit } from './audited-calls.ts';
import { codeOf, eventually, type AuditStack, type TestUser } from './harness.ts';

/** Board and task rows of the audit table: one org with an owner and a MEMBER, set up before the rows run. */
export interface BoardScenario {
  stack: AuditStack;
  owner: TestUser;
  member: TestUser;
  org: string;
  board: string;
  lists: Record<string, string>;
  tasks: Record<string, string>;
  comment: string;
  /** The org's recorded entries so far (for a row that waits for a cascade). */
  recorded(): Promise<ExpectedAudit[]>;
}

const BOARD = 'taskmesh.board.v1.';
const TASK = 'taskmesh.task.v1.';

function boardCall<Req, Res>(s: BoardScenario, method: (c: BoardServiceClient) => UnaryMethod<Req, Res>, req: Req, who: TestUser): Promise<Res> {
  const client = s.stack.boards!.boardClient;
  return callUnary(client, method(client), req, { metadata: who.auth });
}

function taskCall<Req, Res>(s: BoardScenario, method: (c: TaskServiceClient) => UnaryMethod<Req, Res>, req: Req, who: TestUser): Promise<Res> {
  const client = s.stack.boards!.taskClient;
  return callUnary(client, method(client), req, { metadata: who.auth });
}

async function createList(s: BoardScenario, label: string, displayName: string): Promise<ExpectedAudit> {
  const res = await boardCall(s, (c) => c.createList, { parent: s.board, list: List.fromPartial({ displayName }), requestId: '' }, s.owner);
  s.lists[label] = res.list!.name;
  return { eventType: `${BOARD}ListCreated`, actor: s.owner.name, resource: res.list!.name };
}

async function createTask(s: BoardScenario, label: string, who: TestUser, list: string, requestId = ''): Promise<ExpectedAudit> {
  const res = await taskCall(
    s,
    (c) => c.createTask,
    { parent: s.board, task: Task.fromPartial({ list: s.lists[list], title: label, priority: Priority.PRIORITY_MEDIUM, assignees: [s.owner.name] }), requestId },
    who,
  );
  s.tasks[label] = res.task!.name;
  return { eventType: `${TASK}TaskCreated`, actor: who.name, resource: res.task!.name };
}

export const boardAndTaskCalls: AuditedCall<BoardScenario>[] = [
  {
    rpc: 'createBoard',
    what: 'owner creates a board',
    async run(s) {
      const res = await boardCall(s, (c) => c.createBoard, { parent: s.org, board: Board.fromPartial({ displayName: 'Launch' }), requestId: '' }, s.owner);
      s.board = res.board!.name;
      return { eventType: `${BOARD}BoardCreated`, actor: s.owner.name, resource: s.board };
    },
  },
  {
    rpc: 'updateBoard',
    what: 'owner renames it',
    async run(s) {
      await boardCall(s, (c) => c.updateBoard, { board: Board.fromPartial({ name: s.board, displayName: 'Launch 2' }), updateMask: ['display_name'] }, s.owner);
      return { eventType: `${BOARD}BoardUpdated`, actor: s.owner.name, resource: s.board };
    },
  },
  {
    rpc: 'updateBoard',
    what: 'a MEMBER may not: a rejected call records nothing',
    async run(s) {
      const code = await codeOf(
        boardCall(s, (c) => c.updateBoard, { board: Board.fromPartial({ name: s.board, displayName: 'Nope' }), updateMask: ['display_name'] }, s.member),
      );
      if (code !== GrpcCode.PERMISSION_DENIED) throw new Error(`expected PERMISSION_DENIED, got ${code}`);
      return null;
    },
  },
  { rpc: 'createList', what: 'owner adds a list', run: (s) => createList(s, 'todo', 'To do') },
  { rpc: 'createList', what: 'and another', run: (s) => createList(s, 'done', 'Done') },
  {
    rpc: 'updateList',
    what: 'owner renames a list',
    async run(s) {
      await boardCall(s, (c) => c.updateList, { list: List.fromPartial({ name: s.lists.done, displayName: 'Shipped' }), updateMask: ['display_name'] }, s.owner);
      return { eventType: `${BOARD}ListUpdated`, actor: s.owner.name, resource: s.lists.done! };
    },
  },
  {
    rpc: 'moveList',
    what: 'owner moves it first',
    async run(s) {
      await boardCall(s, (c) => c.moveList, { name: s.lists.done!, beforeList: s.lists.todo!, etag: '' }, s.owner);
      return { eventType: `${BOARD}ListMoved`, actor: s.owner.name, resource: s.lists.done! };
    },
  },
  {
    rpc: 'createTask',
    what: 'a member creates a task assigned to the owner (its TaskAssigned companion is not a second entry)',
    run: (s) => createTask(s, 'write docs', s.member, 'todo', 'task-req-1'),
  },
  {
    rpc: 'createTask',
    what: 'a retry with the same request id records nothing',
    async run(s) {
      const first = s.tasks['write docs'];
      await createTask(s, 'write docs', s.member, 'todo', 'task-req-1');
      if (s.tasks['write docs'] !== first) throw new Error('the retry created a second task');
      return null;
    },
  },
  {
    rpc: 'updateTask',
    what: 'the member starts it and retitles it (its TaskStatusChanged companion is not a second entry)',
    async run(s) {
      const name = s.tasks['write docs']!;
      await taskCall(
        s,
        (c) => c.updateTask,
        { task: Task.fromPartial({ name, title: 'Write the docs', status: TaskStatus.TASK_STATUS_IN_PROGRESS }), updateMask: ['title', 'status'] },
        s.member,
      );
      return { eventType: `${TASK}TaskUpdated`, actor: s.member.name, resource: name };
    },
  },
  { rpc: 'createTask', what: 'the owner creates a second task, on the other list', run: (s) => createTask(s, 'review docs', s.owner, 'done') },
  {
    rpc: 'batchUpdateTasks',
    what: 'a MEMBER may not batch-update: a rejected call records nothing',
    async run(s) {
      const request = { parent: s.board, requests: [{ task: Task.fromPartial({ name: s.tasks['write docs']!, title: 'Nope' }), updateMask: ['title'] }] };
      const code = await codeOf(taskCall(s, (c) => c.batchUpdateTasks, request, s.member));
      if (code !== GrpcCode.PERMISSION_DENIED) throw new Error(`expected PERMISSION_DENIED, got ${code}`);
      return null;
    },
  },
  {
    rpc: 'batchUpdateTasks',
    what: 'the owner batch-updates both tasks: one TaskUpdated entry per task changed',
    async run(s) {
      const [write, review] = [s.tasks['write docs']!, s.tasks['review docs']!];
      const requests = [
        { task: Task.fromPartial({ name: write, priority: Priority.PRIORITY_URGENT }), updateMask: ['priority'] },
        { task: Task.fromPartial({ name: review, labels: ['docs'] }), updateMask: ['labels'] },
      ];
      await taskCall(s, (c) => c.batchUpdateTasks, { parent: s.board, requests }, s.owner);
      // Both events come from one commit, often in one millisecond, which the log orders by event id: take
      // the log's order of the two, once both are there, and let the table check there is nothing else.
      const entries = await eventually(async () => {
        const found = (await s.recorded()).filter((e) => e.eventType === `${TASK}TaskUpdated` && e.actor === s.owner.name);
        return found.length >= 2 && found;
      }, 'the batch entries');
      const expected = [write, review].map((resource) => ({ eventType: `${TASK}TaskUpdated`, actor: s.owner.name, resource }));
      const resources = entries.map((e) => e.resource);
      if (entries.length !== 2 || ![write, review].every((r) => resources.includes(r))) throw new Error(`unexpected entries ${JSON.stringify(entries)}`);
      return resources.map((resource) => expected.find((e) => e.resource === resource)!);
    },
  },
  {
    rpc: 'deleteTask',
    what: 'the owner deletes the second task',
    async run(s) {
      const name = s.tasks['review docs']!;
      await taskCall(s, (c) => c.deleteTask, { name, etag: '' }, s.owner);
      return { eventType: `${TASK}TaskDeleted`, actor: s.owner.name, resource: name };
    },
  },
  {
    rpc: 'moveTask',
    what: 'the member moves it to the other list',
    async run(s) {
      const name = s.tasks['write docs']!;
      await taskCall(s, (c) => c.moveTask, { name, list: s.lists.done!, etag: '' }, s.member);
      return { eventType: `${TASK}TaskMoved`, actor: s.member.name, resource: name };
    },
  },
  {
    rpc: 'createComment',
    what: 'the member comments',
    async run(s) {
      const res = await taskCall(s, (c) => c.createComment, { parent: s.tasks['write docs']!, comment: Comment.fromPartial({ body: 'done soon' }), requestId: '' }, s.member);
      s.comment = res.comment!.name;
      return { eventType: `${TASK}CommentAdded`, actor: s.member.name, resource: s.comment };
    },
  },
  {
    rpc: 'deleteComment',
    what: 'the owner deletes the comment',
    async run(s) {
      await taskCall(s, (c) => c.deleteComment, { name: s.comment }, s.owner);
      return { eventType: `${TASK}CommentDeleted`, actor: s.owner.name, resource: s.comment };
    },
  },
  {
    rpc: 'deleteTask',
    what: 'the owner deletes the task',
    async run(s) {
      const name = s.tasks['write docs']!;
      await taskCall(s, (c) => c.deleteTask, { name, etag: '' }, s.owner);
      return { eventType: `${TASK}TaskDeleted`, actor: s.owner.name, resource: name };
    },
  },
  { rpc: 'createTask', what: 'the owner creates a task on the first list', run: (s) => createTask(s, 'left behind', s.owner, 'todo') },
  {
    rpc: 'deleteList',
    what: 'the owner deletes that list with force: its task is deleted by the task service, one entry each',
    async run(s) {
      const list = s.lists.todo!;
      const task = s.tasks['left behind']!;
      await boardCall(s, (c) => c.deleteList, { name: list, force: true, etag: '' }, s.owner);
      const cascade = { eventType: `${TASK}TaskDeleted`, actor: s.owner.name, resource: task };
      // The cascade comes from another producer, later: wait for it so the table's order stays exact.
      await eventually(async () => (await s.recorded()).some((e) => e.resource === task && e.eventType === cascade.eventType), 'the cascaded TaskDeleted');
      return [{ eventType: `${BOARD}ListDeleted`, actor: s.owner.name, resource: list }, cascade];
    },
  },
  {
    rpc: 'deleteBoard',
    what: 'the owner deletes the board',
    async run(s) {
      await boardCall(s, (c) => c.deleteBoard, { name: s.board, etag: '' }, s.owner);
      return { eventType: `${BOARD}BoardDeleted`, actor: s.owner.name, resource: s.board };
    },
  },
];
