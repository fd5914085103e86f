import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBoardRequest,
  CreateListRequest,
  DeleteListRequest,
  ListListsRequest,
} from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { Priority } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { CreateTaskRequest, GetTaskRequest } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { call, codeOf, createOrg, failure, outbox, reasonOf, signUp, startHarness, type Harness, type TestUser } from './harness.ts';

/** DeleteList against the real task service: emptiness comes from CountListTasks, forced deletion takes the tasks. */
let h: Harness;
let owner: TestUser;
let orgName: string;

beforeAll(async () => {
  h = await startHarness({ withTask: true });
  owner = await signUp(h, 'owner');
  orgName = await createOrg(h, owner);
});
afterAll(async () => {
  await h?.close();
});

async function boardWithList() {
  const board = (await call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: orgName, board: { displayName: 'Lists' } }), owner)).board!.name;
  const list = (await call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: board, list: { displayName: 'Todo' } }), owner)).list!;
  return { board, list };
}
const createTask = async (board: string, list: string) => {
  const res = await callUnary(
    h.taskClient!,
    h.taskClient!.createTask,
    CreateTaskRequest.fromPartial({ parent: board, task: { list, title: 'Something', priority: Priority.PRIORITY_MEDIUM } }),
    { metadata: owner.auth },
  );
  return res.task!.name;
};
const listNames = async (board: string) =>
  (await call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: board }), owner)).lists.map((l) => l.name);

describe('DeleteList', () => {
  it('refuses a list that holds a task unless forced, and changes nothing', async () => {
    const { board, list } = await boardWithList();
    await createTask(board, list.name);
    const eventsBefore = await outbox(h);
    const err = await failure(call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: list.name }), owner));
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(reasonOf(err)).toBe('LIST_NOT_EMPTY');
    expect(await listNames(board)).toEqual([list.name]);
    expect(await outbox(h)).toEqual(eventsBefore);
  });

  it('deletes an empty list without force', async () => {
    const { board, list } = await boardWithList();
    await call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: list.name }), owner);
    expect(await listNames(board)).toEqual([]);
  });

  it("with force deletes the list, and the task service then deletes the list's tasks", async () => {
    const { board, list } = await boardWithList();
    const task = await createTask(board, list.name);
    await call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: list.name, force: true }), owner);
    expect(await listNames(board)).toEqual([]);
    // The task service reacts to ListDeleted{forced} from the bus: wait for that, not for a time.
    const getTask = () => callUnary(h.taskClient!, h.taskClient!.getTask, GetTaskRequest.fromPartial({ name: task }), { metadata: owner.auth });
    while ((await codeOf(getTask())) === status.OK) await new Promise((r) => setImmediate(r));
    expect(await codeOf(getTask())).toBe(status.NOT_FOUND);
  });
});
