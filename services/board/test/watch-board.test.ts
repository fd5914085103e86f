import { randomUUID } from 'node:crypto';
import { Metadata, status, type ClientReadableStream } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBoardRequest,
  CreateListRequest,
  DeleteBoardRequest,
  DeleteListRequest,
  MoveListRequest,
  UpdateBoardRequest,
  WatchBoardRequest,
  type WatchBoardResponse,
} from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { BoardUpdated } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import { MemberRemoved } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { Role as ProtoRole } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { TaskCreated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { addMember, call, createOrg, Role, signUp, startHarness, type Harness, type TestUser } from './harness.ts';

let h: Harness;
let owner: TestUser;
let viewer: TestUser;
let orgName: string;

beforeAll(async () => {
  h = await startHarness();
  [owner, viewer] = await Promise.all([signUp(h, 'owner'), signUp(h, 'viewer')]);
  orgName = await createOrg(h, owner);
  await addMember(h, orgName, owner, viewer, Role.ROLE_VIEWER);
});
afterAll(async () => {
  await h?.close();
});

interface Watching {
  stream: ClientReadableStream<WatchBoardResponse>;
  /** Resolves with the next n events' types (payload decoding is left to the test). */
  next(n: number): Promise<WatchBoardResponse[]>;
  /** Resolves with the status code the stream ends with. */
  ended: Promise<number>;
}

/** Opens WatchBoard and resolves once the server holds the watch (so later changes are guaranteed to reach it). */
async function watch(board: string, who: TestUser): Promise<Watching> {
  const before = h.board.watchHub.size;
  const stream = h.client.watchBoard(WatchBoardRequest.fromPartial({ name: board }), who.auth);
  const received: WatchBoardResponse[] = [];
  let waiter: (() => void) | undefined;
  stream.on('data', (message: WatchBoardResponse) => {
    received.push(message);
    waiter?.();
  });
  const ended = new Promise<number>((resolve) => {
    stream.on('status', (s: { code: number }) => resolve(s.code));
    stream.on('error', () => undefined);
  });
  let closed = false;
  void ended.then(() => {
    closed = true;
    waiter?.();
  });
  while (!closed && h.board.watchHub.size <= before) await new Promise((r) => setImmediate(r));
  return {
    stream,
    ended,
    async next(n) {
      while (received.length < n) {
        if (closed) throw new Error(`stream ended after ${received.length} of ${n} events`);
        await new Promise<void>((resolve) => (waiter = resolve));
      }
      return received.splice(0, n);
    },
  };
}

const newBoard = async (displayName: string) =>
  (await call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: orgName, board: { displayName } }), owner)).board!;
const newList = async (board: string, displayName: string) =>
  (await call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: board, list: { displayName } }), owner)).list!;

describe('WatchBoard', () => {
  it('streams the board and list changes of that board only, in commit order, and ends when the board is deleted', async () => {
    const board = await newBoard('Watched');
    const elsewhere = await newBoard('Not watched');
    const w = await watch(board.name, viewer);

    await call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board.name, displayName: 'Watched!' } }), owner);
    await newList(elsewhere.name, 'Noise');
    const a = await newList(board.name, 'A');
    const b = await newList(board.name, 'B');
    await call(h, (c) => c.moveList, MoveListRequest.fromPartial({ name: b.name, beforeList: a.name }), owner);
    await call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: a.name, force: true }), owner);
    await call(h, (c) => c.deleteBoard, DeleteBoardRequest.fromPartial({ name: board.name }), owner);

    const events = (await w.next(6)).map((m) => m.event!);
    expect(events.map((e) => [e.type, e.resource])).toEqual([
      ['taskmesh.board.v1.BoardUpdated', board.name],
      ['taskmesh.board.v1.ListCreated', a.name],
      ['taskmesh.board.v1.ListCreated', b.name],
      ['taskmesh.board.v1.ListMoved', b.name],
      ['taskmesh.board.v1.ListDeleted', a.name],
      ['taskmesh.board.v1.BoardDeleted', board.name],
    ]);
    expect(events[0]!).toMatchObject({ organization: orgName, actor: `users/${owner.id}` });
    expect(events[0]!.payload!.typeUrl).toBe('type.googleapis.com/taskmesh.board.v1.BoardUpdated');
    expect(BoardUpdated.decode(events[0]!.payload!.value).board!.displayName).toBe('Watched!');
    expect(await w.ended).toBe(status.OK);
  });

  it('carries task and comment events of the board (published by the task service on the same bus)', async () => {
    const board = await newBoard('Tasks');
    const list = await newList(board.name, 'Todo');
    const w = await watch(board.name, viewer);
    const task = `${board.name}/tasks/${randomUUID()}`;
    // What the task service's relay hands the bus; the board service must route it by resource name.
    for (const resource of [task, `organizations/${randomUUID()}/boards/${randomUUID()}/tasks/${randomUUID()}`]) {
      await h.bus.publish(
        {
          id: randomUUID(),
          type: 'taskmesh.task.v1.TaskCreated',
          organization: resource.split('/').slice(0, 2).join('/'),
          actor: `users/${owner.id}`,
          resource,
          occurTime: new Date(),
          payload: TaskCreated.encode(TaskCreated.fromPartial({ task: { name: resource, list: list.name, title: 'Write tests' } })).finish(),
        },
        {},
      );
    }
    await call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board.name, displayName: 'Tasks!' } }), owner);
    const events = (await w.next(2)).map((m) => m.event!);
    expect(events.map((e) => [e.type, e.resource])).toEqual([
      ['taskmesh.task.v1.TaskCreated', task],
      ['taskmesh.board.v1.BoardUpdated', board.name],
    ]);
    expect(TaskCreated.decode(events[0]!.payload!.value).task!.title).toBe('Write tests');
    w.stream.cancel();
  });

  it("ends a watcher's stream when their membership ends", async () => {
    const board = await newBoard('Members');
    const w = await watch(board.name, viewer);
    const ownerWatch = await watch(board.name, owner);
    // The org service's MemberRemoved as its relay publishes it.
    await h.bus.publish(
      {
        id: randomUUID(),
        type: 'taskmesh.org.v1.MemberRemoved',
        organization: orgName,
        actor: `users/${owner.id}`,
        resource: `${orgName}/members/${viewer.id}`,
        occurTime: new Date(),
        payload: MemberRemoved.encode({ member: `${orgName}/members/${viewer.id}`, user: `users/${viewer.id}`, role: ProtoRole.ROLE_VIEWER, left: false }).finish(),
      },
      {},
    );
    expect(await w.ended).toBe(status.OK);
    // Others keep watching.
    await call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board.name, displayName: 'Still here' } }), owner);
    expect((await ownerWatch.next(1))[0]!.event!.type).toBe('taskmesh.board.v1.BoardUpdated');
    ownerWatch.stream.cancel();
  });

  it('refuses a board that is not there, and frees the watch when the client goes away', async () => {
    const missing = h.client.watchBoard(WatchBoardRequest.fromPartial({ name: `${orgName}/boards/${randomUUID()}` }), viewer.auth);
    const code = await new Promise<number>((resolve) => missing.on('error', (err: { code: number }) => resolve(err.code)));
    expect(code).toBe(status.NOT_FOUND);
    const unauthenticated = h.client.watchBoard(WatchBoardRequest.fromPartial({ name: `${orgName}/boards/${randomUUID()}` }), new Metadata());
    expect(await new Promise<number>((resolve) => unauthenticated.on('error', (err: { code: number }) => resolve(err.code)))).toBe(status.UNAUTHENTICATED);

    const board = await newBoard('Leaving');
    const before = h.board.watchHub.size;
    const w = await watch(board.name, viewer);
    expect(h.board.watchHub.size).toBe(before + 1);
    w.stream.cancel();
    while (h.board.watchHub.size > before) await new Promise((r) => setImmediate(r));
    expect(h.board.watchHub.size).toBe(before);
  });
});
