import { randomUUID } from 'node:crypto';
import { Metadata, status, type ClientReadableStream } from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckBoardListRequest,
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
  WatchBoardRequest,
  type WatchBoardResponse,
} from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { BoardRecord } from '../src/db/entities.ts';
import {
  addMember,
  call,
  codeOf,
  createOrg,
  outbox,
  Role,
  signUp,
  startHarness,
  type Harness,
  type TestUser,
} from './harness.ts';

let h: Harness;
let owner: TestUser;
let admin: TestUser;
let member: TestUser;
let viewer: TestUser;
/** Owner of another organization, and a member of nothing in this one. */
let outsider: TestUser;
let orgName: string;
let otherOrgName: string;

beforeAll(async () => {
  h = await startHarness();
  [owner, admin, member, viewer, outsider] = await Promise.all(['owner', 'admin', 'member', 'viewer', 'outsider'].map((l) => signUp(h, l)));
  orgName = await createOrg(h, owner, 'Acme');
  otherOrgName = await createOrg(h, outsider, 'Rival');
  await addMember(h, orgName, owner, admin, Role.ROLE_ADMIN);
  await addMember(h, orgName, owner, member, Role.ROLE_MEMBER);
  await addMember(h, orgName, owner, viewer, Role.ROLE_VIEWER);
});
afterAll(async () => {
  await h?.close();
});

interface Fixture {
  board: string;
  lists: [string, string];
}

/** A fresh board with two lists in `org`, made by `by`, so every call in a table acts on untouched resources. */
async function fixture(org = orgName, by = owner): Promise<Fixture> {
  const board = (await call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: org, board: { displayName: 'Fixture' } }), by)).board!.name;
  const make = async (displayName: string) =>
    (await call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: board, list: { displayName } }), by)).list!.name;
  return { board, lists: [await make('First'), await make('Second')] };
}

/** Opens WatchBoard; resolves with OK once the stream delivers an event, or with the error's code. */
async function watchOutcome(board: string, who: TestUser | undefined, trigger: () => Promise<unknown>): Promise<number> {
  const watchersBefore = h.board.watchHub.size;
  const stream: ClientReadableStream<WatchBoardResponse> = h.client.watchBoard(WatchBoardRequest.fromPartial({ name: board }), who?.auth ?? new Metadata());
  const outcome = new Promise<number>((resolve) => {
    stream.on('data', () => resolve(status.OK));
    stream.on('error', (err: { code: number }) => resolve(err.code));
  });
  let settled = false;
  void outcome.then(() => (settled = true));
  // Only once the server holds the watch is a change guaranteed to reach it; a refused call never gets there.
  const registered = (async () => {
    while (!settled && h.board.watchHub.size <= watchersBefore) await new Promise((r) => setImmediate(r));
  })();
  const first = await Promise.race([outcome, registered.then(() => undefined)]);
  if (first !== undefined) return first;
  await trigger();
  const code = await outcome;
  stream.cancel();
  return code;
}

type Rpc = (f: Fixture, who: TestUser | undefined) => Promise<unknown>;

const RPCS: Record<string, { write: boolean; run: Rpc }> = {
  createBoard: { write: true, run: (_f, who) => call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: orgName, board: { displayName: 'New' } }), who) },
  listBoards: { write: false, run: (_f, who) => call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: orgName }), who) },
  getBoard: { write: false, run: (f, who) => call(h, (c) => c.getBoard, GetBoardRequest.fromPartial({ name: f.board }), who) },
  updateBoard: {
    write: true,
    run: (f, who) => call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: f.board, displayName: 'Renamed' } }), who),
  },
  deleteBoard: { write: true, run: (f, who) => call(h, (c) => c.deleteBoard, DeleteBoardRequest.fromPartial({ name: f.board }), who) },
  createList: {
    write: true,
    run: (f, who) => call(h, (c) => c.createList, CreateListRequest.fromPartial({ parent: f.board, list: { displayName: 'New' } }), who),
  },
  listLists: { write: false, run: (f, who) => call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: f.board }), who) },
  updateList: {
    write: true,
    run: (f, who) => call(h, (c) => c.updateList, UpdateListRequest.fromPartial({ list: { name: f.lists[0], displayName: 'Renamed' } }), who),
  },
  deleteList: { write: true, run: (f, who) => call(h, (c) => c.deleteList, DeleteListRequest.fromPartial({ name: f.lists[0], force: true }), who) },
  moveList: { write: true, run: (f, who) => call(h, (c) => c.moveList, MoveListRequest.fromPartial({ name: f.lists[1], beforeList: f.lists[0] }), who) },
  watchBoard: {
    write: false,
    run: async (f, who) => {
      const code = await watchOutcome(f.board, who, () =>
        call(h, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: f.board, displayName: `Changed ${randomUUID()}` } }), owner),
      );
      if (code !== status.OK) throw Object.assign(new Error('watch refused'), { code });
    },
  },
};

describe('role rules (API.md "Roles")', () => {
  const callers = ['owner', 'admin', 'member', 'viewer', 'non-member', 'anonymous'] as const;
  const expected = (caller: (typeof callers)[number], write: boolean): number => {
    if (caller === 'anonymous') return status.UNAUTHENTICATED;
    if (caller === 'non-member') return status.NOT_FOUND;
    if (caller === 'owner' || caller === 'admin') return status.OK;
    return write ? status.PERMISSION_DENIED : status.OK;
  };

  it('OWNER and ADMIN manage boards and lists; MEMBER and VIEWER read; a non-member gets NOT_FOUND; no token UNAUTHENTICATED', async () => {
    const who = { owner, admin, member, viewer, 'non-member': outsider, anonymous: undefined } as const;
    const got: Record<string, Record<string, number>> = {};
    const want: Record<string, Record<string, number>> = {};
    for (const [rpc, { write, run }] of Object.entries(RPCS)) {
      got[rpc] = {};
      want[rpc] = {};
      for (const caller of callers) {
        const f = await fixture();
        got[rpc]![caller] = await codeOf(run(f, who[caller]));
        want[rpc]![caller] = expected(caller, write);
      }
    }
    expect(got).toEqual(want);
  });

  it('a refused write changes nothing and records no event', async () => {
    const f = await fixture();
    const before = await outbox(h);
    for (const caller of [member, viewer]) {
      for (const [rpc, { write, run }] of Object.entries(RPCS)) {
        if (write && rpc !== 'createBoard') expect(await codeOf(run(f, caller))).toBe(status.PERMISSION_DENIED);
      }
    }
    expect(await outbox(h)).toEqual(before);
    const lists = await call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: f.board }), owner);
    expect(lists.lists.map((l) => [l.name, l.displayName])).toEqual([
      [f.lists[0], 'First'],
      [f.lists[1], 'Second'],
    ]);
  });
});

describe('tenant isolation', () => {
  /** Another org's board, with the same resources re-parented under the caller's own org. */
  function crossOrgNames(theirs: Fixture): Fixture[] {
    const mine = (name: string) => name.replace(otherOrgName, orgName);
    return [theirs, { board: mine(theirs.board), lists: [mine(theirs.lists[0]), mine(theirs.lists[1])] }];
  }

  async function snapshot(f: Fixture) {
    const board = await call(h, (c) => c.getBoard, GetBoardRequest.fromPartial({ name: f.board }), outsider);
    const lists = await call(h, (c) => c.listLists, ListListsRequest.fromPartial({ parent: f.board }), outsider);
    return { board: board.board, lists: lists.lists };
  }

  it('every board RPC called with real ids from another org answers NOT_FOUND and changes nothing', async () => {
    const theirs = await fixture(otherOrgName, outsider);
    const before = await snapshot(theirs);
    const eventsBefore = await outbox(h);
    const codes: Record<string, number[]> = {};
    for (const names of crossOrgNames(theirs)) {
      for (const [rpc, { run }] of Object.entries(RPCS)) {
        if (rpc === 'createBoard' || rpc === 'listBoards') continue;
        // The owner of this org is in every role's shoes here: the highest role must not reach across orgs either.
        (codes[rpc] ??= []).push(await codeOf(run(names, owner)));
      }
    }
    const creates = [
      call(h, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: otherOrgName, board: { displayName: 'Intruder' } }), owner),
      call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: otherOrgName }), owner),
    ];
    codes['createBoard+listBoards'] = await Promise.all(creates.map(codeOf));
    for (const [rpc, got] of Object.entries(codes)) expect({ rpc, got }).toEqual({ rpc, got: got.map(() => status.NOT_FOUND) });

    // The internal lookup, too, when the name's org and the board's org differ.
    const mixed = crossOrgNames(theirs)[1]!;
    expect(await codeOf(callUnary(h.client, h.client.checkBoardList, CheckBoardListRequest.fromPartial({ name: mixed.board, list: mixed.lists[0] })))).toBe(
      status.NOT_FOUND,
    );

    expect(await snapshot(theirs)).toEqual(before);
    expect(await outbox(h)).toEqual(eventsBefore);
    const mine = await call(h, (c) => c.listBoards, ListBoardsRequest.fromPartial({ parent: orgName, pageSize: 500 }), owner);
    expect(mine.boards.map((b) => b.name).filter((n) => n.includes(theirs.board.split('/').at(-1)!))).toEqual([]);
  });

  it('a list of another org cannot be an anchor for a move', async () => {
    const mine = await fixture();
    const theirs = await fixture(otherOrgName, outsider);
    const reparented = theirs.lists[0].replace(otherOrgName, orgName).replace(theirs.board.split('/').at(-1)!, mine.board.split('/').at(-1)!);
    for (const anchor of [theirs.lists[0], reparented]) {
      expect(await codeOf(call(h, (c) => c.moveList, MoveListRequest.fromPartial({ name: mine.lists[1], beforeList: anchor }), owner))).toBe(
        status.INVALID_ARGUMENT,
      );
    }
  });

  it('row-level security keeps orgs apart even with the ORM tenant filter off', async () => {
    const theirs = await fixture(otherOrgName, outsider);
    const orgId = orgName.split('/')[1]!;
    const em = forkForOrg(h.board.db.em, orgId);
    const seen = await em.find(BoardRecord, {}, { filters: false });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((b) => b.orgId === orgId)).toBe(true);
    expect(seen.map((b) => b.id)).not.toContain(theirs.board.split('/').at(-1));
    // Writing a row of another org while bound to this one is refused by the policy's WITH CHECK.
    const otherOrgId = otherOrgName.split('/')[1]!;
    await expect(
      em.transactional(async (tx) => {
        tx.create(BoardRecord, {
          id: randomUUID(),
          orgId: otherOrgId,
          displayName: 'smuggled',
          description: '',
          version: 1,
          createdBy: randomUUID(),
          createRequestId: null,
          createdAt: new Date(),
          updatedAt: new Date(),
          deletedAt: null,
        });
      }),
    ).rejects.toThrow(/row-level security/);
  });

  it('board listing and list order use indexes that lead with org_id (EXPLAIN)', async () => {
    const client = new pg.Client({ connectionString: h.db.databaseUrl });
    await client.connect();
    try {
      await client.query('set search_path to board');
      // The tables are tiny here; forbid sequential scans so the planner shows which index serves the query.
      await client.query('set enable_seqscan = off');
      const org = orgName.split('/')[1]!;
      const boards = await client.query(
        `explain select * from boards where org_id = $1 and deleted_at is null order by created_at asc, id asc limit 51`,
        [org],
      );
      expect(boards.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('boards_org_live_idx');
      const lists = await client.query(
        `explain select * from lists where org_id = $1 and board_id = $2 and deleted_at is null order by position asc limit 51`,
        [org, randomUUID()],
      );
      expect(lists.rows.map((r) => r['QUERY PLAN']).join('\n')).toContain('lists_board_position_idx');
    } finally {
      await client.end();
    }
  });
});
