import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBoardRequest,
  CreateListRequest,
  DeleteBoardRequest,
  DeleteListRequest,
  GetBoardRequest,
  ListBoardsRequest,
  ListListsRequest,
  MoveListRequest,
  UpdateBoardRequest,
  UpdateListRequest,
  CheckBoardListRequest,
} from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import type { List } from '@taskmesh/gen/taskmesh/board/v1/board.js';
import { BoardUpdated, ListMoved } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import {
  call,
  codeOf,
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
let orgName: string;

beforeAll(async () => {
  h = await startHarness();
  owner = await signUp(h, 'owner');
  orgName = await createOrg(h, owner);
});
afterAll(async () => {
  await h?.close();
});

const createBoard = (displayName = 'Roadmap', extra: { description?: string; requestId?: string } = {}) =>
  call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: orgName, board: { displayName, description: extra.description ?? '' }, requestId: extra.requestId ?? '' }), owner);
const createList = (board: string, displayName: string) =>
  call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: board, list: { displayName } }), owner).then((r) => r.list!);
const listsOf = async (board: string) =>
  (await call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: board, pageSize: 500 }), owner)).lists;
const move = (list: string, anchor: { beforeList?: string; afterList?: string }) =>
  call(h, (c) => c.moveList, MoveListRequest.fromPartial({ name: list, ...anchor }), owner).then((r) => r.list!);

describe('boards', () => {
  it('creates a board under the org, with its creator, an etag and a BoardCreated event in the outbox', async () => {
    const { board } = await createBoard('Roadmap', { description: 'Q1 plans' });
    expect(board!.name).toMatch(new RegExp(`^${orgName}/boards/[0-9a-f-]{36}$`));
    expect(board!).toMatchObject({ displayName: 'Roadmap', description: 'Q1 plans', creator: `users/${owner.id}` });
    expect(board!.etag).not.toBe('');
    expect(board!.createTime).toBeInstanceOf(Date);
    const events = await outbox(h);
    expect(events).toContainEqual({
      type: 'taskmesh.board.v1.BoardCreated',
      resource: board!.name,
      organization: orgName,
      actor: `users/${owner.id}`,
    });
    const got = await call(h, (c) => c.getBoard, GetBoardRequest.fromPartial({ name: board!.name }), owner);
    expect(got.board).toEqual(board);
  });

  it('rejects invalid boards with field violations', async () => {
    const err = await failure(createBoard('  ', { description: 'x'.repeat(20_001) }));
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(violationsOf(err).sort()).toEqual(['board.description', 'board.display_name']);
    const longName = await failure(createBoard('x'.repeat(201)));
    expect(violationsOf(longName)).toEqual(['board.display_name']);
    const badId = await failure(createBoard('ok', { requestId: 'not-a-uuid' }));
    expect(violationsOf(badId)).toEqual(['request_id']);
  });

  it('a retried create with the same request id returns the first board, even when concurrent', async () => {
    const requestId = randomUUID();
    const [a, b] = await Promise.all([createBoard('Once', { requestId }), createBoard('Once', { requestId })]);
    const c = await createBoard('Once', { requestId });
    expect(b.board!.name).toBe(a.board!.name);
    expect(c.board!.name).toBe(a.board!.name);
    const created = (await outbox(h)).filter((e) => e.resource === a.board!.name && e.type.endsWith('BoardCreated'));
    expect(created).toHaveLength(1);
    // A retry after the board was deleted does not bring it back (nor make a second one).
    await call(h, (c2) => c2.deleteBoard, DeleteBoardRequest.fromPartial({ name: a.board!.name }), owner);
    expect(await codeOf(createBoard('Once', { requestId }))).toBe(status.NOT_FOUND);
  });

  it('lists boards oldest first in pages', async () => {
    const fresh = await signUp(h, 'pager');
    const org = await createOrg(h, fresh, 'Pages');
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: org, board: { displayName: `B${i}` } }), fresh);
      names.push(res.board!.name);
    }
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: org, pageSize: 2, pageToken }), fresh);
      expect(page.boards.length).toBeLessThanOrEqual(2);
      seen.push(...page.boards.map((b) => b.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(names);
    const negative = await failure(call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: org, pageSize: -1 }), fresh));
    expect(negative.code).toBe(status.INVALID_ARGUMENT);
  });

  it('updates with an update mask, records the changes old → new, and refuses a stale etag', async () => {
    const { board } = await createBoard('Before', { description: 'keep' });
    const { board: updated } = await call(
      h,
      (c) => c.updateBoard,
      UpdateBoardRequest.fromPartial({ board: { name: board!.name, displayName: 'After', description: 'ignored', etag: board!.etag }, updateMask: ['display_name'] }),
      owner,
    );
    expect(updated).toMatchObject({ displayName: 'After', description: 'keep' });
    expect(updated!.etag).not.toBe(board!.etag);
    const stale = await failure(
      call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board!.name, displayName: 'Lost', etag: board!.etag } }), owner),
    );
    expect(stale.code).toBe(status.ABORTED);
    const outputOnly = await failure(
      call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board!.name }, updateMask: ['creator'] }), owner),
    );
    expect(violationsOf(outputOnly)).toEqual(['update_mask']);

    const rows = await h.board.db.em.fork().execute<{ payload: Buffer }[]>(
      `select payload from outbox where type = 'taskmesh.board.v1.BoardUpdated' and resource = ? order by seq`,
      [board!.name],
    );
    expect(rows).toHaveLength(1);
    expect(BoardUpdated.decode(rows[0]!.payload).changes).toEqual([{ field: 'display_name', oldValue: 'Before', newValue: 'After' }]);
  });

  it('a deleted board and everything under it answer NOT_FOUND', async () => {
    const { board } = await createBoard('Doomed');
    const list = await createList(board!.name, 'Todo');
    const stale = await failure(call(h, (c) => c.deleteBoard, DeleteBoardRequest.fromPartial({ name: board!.name, etag: 'v0' }), owner));
    expect(stale.code).toBe(status.ABORTED);
    await call(h, (c) => c.deleteBoard, DeleteBoardRequest.fromPartial({ name: board!.name }), owner);
    const calls: Promise<unknown>[] = [
      call(h, (c) => c.getBoard, GetBoardRequest.fromPartial({ name: board!.name }), owner),
      call(h, (c) => c.deleteBoard, DeleteBoardRequest.fromPartial({ name: board!.name }), owner),
      call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board!.name, displayName: 'x' } }), owner),
      call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: board!.name }), owner),
      call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: board!.name, list: { displayName: 'x' } }), owner),
      call(h, (c) => c.updateList, UpdateListRequest.fromPartial({ list: { name: list.name, displayName: 'x' } }), owner),
      call(h, (c) => c.moveList, MoveListRequest.fromPartial({ name: list.name }), owner),
      call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: list.name, force: true }), owner),
      callUnary(h.client, h.client.checkBoardList, CheckBoardListRequest.fromPartial({ name: board!.name, list: list.name })),
    ];
    expect(await Promise.all(calls.map(codeOf))).toEqual(calls.map(() => status.NOT_FOUND));
    const listed = await call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: orgName, pageSize: 500 }), owner);
    expect(listed.boards.map((b) => b.name)).not.toContain(board!.name);
  });
});

describe('lists', () => {
  it('appends lists, lists them in board order, renames them, and checks them for the task service', async () => {
    const { board } = await createBoard('Kanban');
    const todo = await createList(board!.name, 'Todo');
    const doing = await createList(board!.name, 'Doing');
    const done = await createList(board!.name, 'Done');
    expect((await listsOf(board!.name)).map((l) => l.displayName)).toEqual(['Todo', 'Doing', 'Done']);
    expect(todo.position < doing.position && doing.position < done.position).toBe(true);

    const renamed = await call(
      h,
      (c) => c.updateList,
      UpdateListRequest.fromPartial({ list: { name: doing.name, displayName: 'In progress', etag: doing.etag } }),
      owner,
    );
    expect(renamed.list).toMatchObject({ displayName: 'In progress', position: doing.position });
    const stale = await failure(
      call(h, (c) => c.updateList, UpdateListRequest.fromPartial({ list: { name: doing.name, displayName: 'x', etag: doing.etag } }), owner),
    );
    expect(stale.code).toBe(status.ABORTED);

    const check = await callUnary(h.client, h.client.checkBoardList, CheckBoardListRequest.fromPartial({ name: board!.name, list: todo.name }));
    expect(check).toMatchObject({ board: { name: board!.name }, listExists: true });
    const other = await createBoard('Other');
    const otherList = await createList(other.board!.name, 'Elsewhere');
    for (const list of [otherList.name, `${board!.name}/lists/${randomUUID()}`, 'garbage', '']) {
      const res = await callUnary(h.client, h.client.checkBoardList, CheckBoardListRequest.fromPartial({ name: board!.name, list }));
      expect(res.listExists).toBe(false);
    }
    expect(await codeOf(callUnary(h.client, h.client.checkBoardList, CheckBoardListRequest.fromPartial({ name: `${orgName}/boards/${randomUUID()}` })))).toBe(
      status.NOT_FOUND,
    );
  });

  it('pages lists in board order', async () => {
    const { board } = await createBoard('Paged lists');
    for (const name of ['a', 'b', 'c', 'd', 'e']) await createList(board!.name, name);
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: board!.name, pageSize: 2, pageToken }), owner);
      seen.push(...page.lists.map((l) => l.displayName));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('moves lists before, after and to the end, recording old and new positions', async () => {
    const { board } = await createBoard('Moves');
    const [a, b, c] = [await createList(board!.name, 'A'), await createList(board!.name, 'B'), await createList(board!.name, 'C')];
    const moved = await move(c.name, { beforeList: a.name });
    expect((await listsOf(board!.name)).map((l) => l.displayName)).toEqual(['C', 'A', 'B']);
    await move(c.name, { afterList: a.name });
    expect((await listsOf(board!.name)).map((l) => l.displayName)).toEqual(['A', 'C', 'B']);
    await move(a.name, {});
    expect((await listsOf(board!.name)).map((l) => l.displayName)).toEqual(['C', 'B', 'A']);

    const rows = await h.board.db.em.fork().execute<{ payload: Buffer }[]>(
      `select payload from outbox where type = 'taskmesh.board.v1.ListMoved' and resource = ? order by seq limit 1`,
      [c.name],
    );
    expect(ListMoved.decode(rows[0]!.payload)).toMatchObject({ oldPosition: c.position, newPosition: moved.position });

    const self = await failure(move(b.name, { beforeList: b.name }));
    expect(violationsOf(self)).toEqual(['before_list']);
    const other = await createBoard('Elsewhere');
    const foreign = await createList(other.board!.name, 'X');
    expect(violationsOf(await failure(move(b.name, { afterList: foreign.name })))).toEqual(['after_list']);
    expect(violationsOf(await failure(move(b.name, { afterList: `${board!.name}/lists/${randomUUID()}` })))).toEqual(['after_list']);
    // b's etag is still current (nothing moved it yet); a's changed when it moved to the end.
    await call(h, (c2) => c2.moveList, MoveListRequest.fromPartial({ name: b.name, etag: b.etag }), owner);
    const stale = await failure(call(h, (c2) => c2.moveList, MoveListRequest.fromPartial({ name: a.name, etag: a.etag }), owner));
    expect(stale.code).toBe(status.ABORTED);
  });

  it('many random moves keep a strict order equal to a reference model', async () => {
    const { board } = await createBoard('Shuffle');
    const reference: List[] = [];
    for (let i = 0; i < 8; i++) reference.push(await createList(board!.name, `L${i}`));
    let seed = 7;
    const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 150; i++) {
      const moving = reference[Math.floor(next() * reference.length)]!;
      const others = reference.filter((l) => l.name !== moving.name);
      const anchor = others[Math.floor(next() * others.length)]!;
      const kind = next();
      const anchorArgs = kind < 0.45 ? { beforeList: anchor.name } : kind < 0.9 ? { afterList: anchor.name } : {};
      await move(moving.name, anchorArgs);
      reference.splice(reference.indexOf(moving), 1);
      if ('beforeList' in anchorArgs) reference.splice(reference.indexOf(anchor), 0, moving);
      else if ('afterList' in anchorArgs) reference.splice(reference.indexOf(anchor) + 1, 0, moving);
      else reference.push(moving);
    }
    const lists = await listsOf(board!.name);
    expect(lists.map((l) => l.name)).toEqual(reference.map((l) => l.name));
    const positions = lists.map((l) => l.position);
    for (let i = 1; i < positions.length; i++) expect(positions[i - 1]! < positions[i]!).toBe(true);
  });

  it('concurrent moves into the same gap still give a strict order', async () => {
    const { board } = await createBoard('Race');
    const lists: List[] = [];
    for (let i = 0; i < 6; i++) lists.push(await createList(board!.name, `R${i}`));
    // Four lists all want the gap right after R0 at once: they compute the same key, the unique index lets
    // one through per key and the others retry.
    await Promise.all(lists.slice(2).map((l) => move(l.name, { afterList: lists[0]!.name })));
    const after = await listsOf(board!.name);
    expect(after).toHaveLength(6);
    expect(after[0]!.name).toBe(lists[0]!.name);
    expect(after.at(-1)!.name).toBe(lists[1]!.name);
    const positions = after.map((l) => l.position);
    expect(new Set(positions).size).toBe(6);
    for (let i = 1; i < positions.length; i++) expect(positions[i - 1]! < positions[i]!).toBe(true);
  });

  it('deletes a list with force (ListDeleted{forced}); without force it asks the task service first and keeps the list when it cannot', async () => {
    const { board } = await createBoard('Deletions');
    const keep = await createList(board!.name, 'Keep');
    const gone = await createList(board!.name, 'Gone');
    // No task service runs in this suite: without force the emptiness check cannot be made, so nothing is deleted.
    const unconfirmed = await failure(call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: keep.name }), owner));
    expect(unconfirmed.code).toBe(status.UNAVAILABLE);
    expect((await listsOf(board!.name)).map((l) => l.name)).toContain(keep.name);

    await call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: gone.name, force: true, etag: gone.etag }), owner);
    expect((await listsOf(board!.name)).map((l) => l.name)).toEqual([keep.name]);
    const again = await failure(call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: gone.name, force: true }), owner));
    expect(again.code).toBe(status.NOT_FOUND);
    const deleted = (await outbox(h)).filter((e) => e.type === 'taskmesh.board.v1.ListDeleted' && e.resource === gone.name);
    expect(deleted).toHaveLength(1);
    const stale = await failure(call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: keep.name, force: true, etag: 'v999' }), owner));
    expect(stale.code).toBe(status.ABORTED);
    expect(reasonOf(stale)).toBe('ETAG_MISMATCH');
  });
});
