import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetTaskResponse, ListTasksResponse } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { SqlFragment, selectTextRowsInOrg } from '@taskmesh/runtime/tenant-sql';
import { BoardPrefixes, encodeListTasksResponse, encodeTaskResponse, listTasksResponseOf } from '../src/db/task-bytes.ts';
import { COL, SqlTaskStore, boardPageQuery, pageDigestOf, taskOf, type BoardFilters, type TaskRow } from '../src/db/task-store.ts';
import type { Task as TaskRecord } from '../src/domain/task-fields.ts';
import { toTaskMessage } from '../src/task-mapping.ts';
import { startTaskFixture, type TaskFixture } from './task-fixture.ts';

/**
 * The task read paths: the board page in one statement (SqlTaskStore.boardPage) against a reference model of
 * the listing's semantics, RLS behind its query, and the rows → bytes writer (db/task-bytes.ts) against ts-proto.
 */

const store = new SqlTaskStore();
const ctxOf = (orgId: string) => ({ em: forkForOrg(f.db.em, orgId), org: { id: orgId } });

let f: TaskFixture;
let admin: pg.Client;
beforeAll(async () => {
  f = await startTaskFixture();
  admin = new pg.Client({ connectionString: f.testDb.databaseUrl });
  await admin.connect();
  await admin.query('set search_path to task');
});
afterAll(async () => {
  await admin?.end();
  await f?.close();
});

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STATUSES = ['TODO', 'IN_PROGRESS', 'DONE'] as const;
const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'] as const;
const ODD_TEXT = ['plain', 'é à ü', '日本語のタスク', 'emoji 🚀🧪', 'quote " and \\ backslash', 'comma, {brace} and space', 'NULL', 'null', 'Null value', ' ', 'x'.repeat(300)];

interface SeedTask {
  id: string;
  listId: string;
  position: string;
  title: string;
  description: string;
  status: string;
  priority: string;
  assignees: string[];
  labels: string[];
  dueTime: string | null;
  startTime: string | null;
  archived: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * Inserts tasks straight into the table (as the owner: no API rules in the way), with every kind of content
 * the columns allow: non-ASCII text, characters PostgreSQL quotes in arrays, empty and full arrays, no due
 * time, times before 1970 and with microseconds, large versions.
 */
async function seed(orgId: string, boardId: string, listIds: string[], perList: number[], seedNo: number): Promise<SeedTask[]> {
  const next = random(seedNo);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const times = ['2026-11-23 13:40:00.123+00', '1969-12-31 23:59:59.9995+00', '1970-01-01 00:00:00+00', '1901-05-06 07:08:09.000001+00', '9999-12-31 23:59:59.999999+00', '2038-01-19 03:14:08.5+00', '2106-02-07 06:28:16+00'];
  const tasks: SeedTask[] = [];
  for (const [li, listId] of listIds.entries()) {
    for (let i = 0; i < perList[li]!; i++) {
      const labelCount = pick([0, 0, 1, 2, 20]);
      const labels = [...new Set(Array.from({ length: labelCount }, (_, k) => `${pick(ODD_TEXT).slice(0, 50)}${k}`))];
      const assigneeCount = pick([0, 0, 1, 3, 20]);
      tasks.push({
        id: randomUUID(),
        listId,
        // Keys of different lengths and prefixes, unique per list, compared byte-wise.
        position: `a${String(Math.floor(next() * 1e6)).padStart(6, '0')}${i}`,
        title: `${pick(ODD_TEXT)} ${i}`.slice(0, 500),
        description: pick(['', '', 'a short description', pick(ODD_TEXT), '長い説明🚀'.repeat(4000)]),
        status: pick(STATUSES),
        priority: pick(PRIORITIES),
        assignees: Array.from({ length: assigneeCount }, () => randomUUID()),
        labels,
        dueTime: pick([null, null, ...times]),
        startTime: pick([null, null, ...times]),
        archived: next() < 0.2,
        version: pick([1, 2, 17, 2147483647]),
        createdAt: pick(times),
        updatedAt: pick(times),
      });
    }
  }
  for (const t of tasks) {
    await admin.query(
      `insert into tasks (id, org_id, board_id, list_id, position, title, description, status, priority, assignees, labels,
        due_time, archived, creator_id, version, created_at, updated_at, start_time)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
      [t.id, orgId, boardId, t.listId, t.position, t.title, t.description, t.status, t.priority, t.assignees, t.labels,
        t.dueTime, t.archived, randomUUID(), t.version, t.createdAt, t.updatedAt, t.startTime],
    );
  }
  return tasks;
}

/** The reference: the listing's semantics over all tasks (lists in board order, each by position byte-wise). */
function expected(tasks: SeedTask[], listIds: string[], filters: BoardFilters): string[] {
  return listIds.flatMap((listId) =>
    tasks
      .filter((t) => t.listId === listId)
      .filter((t) => (filters.showArchived || !t.archived) && (!filters.status || t.status === filters.status))
      .filter((t) => (!filters.assigneeId || t.assignees.includes(filters.assigneeId)) && (!filters.label || t.labels.includes(filters.label)))
      .sort((a, b) => Buffer.compare(Buffer.from(a.position), Buffer.from(b.position)))
      .map((t) => t.id),
  );
}

/** Every page of a listing through Tasks.list, as ids, checking page sizes and tokens on the way. */
async function allPages(orgId: string, boardId: string, filters: BoardFilters & { listId?: string }, pageSize: number): Promise<string[]> {
  const ids: string[] = [];
  let token = '';
  for (let pages = 0; ; pages++) {
    const page = await f.tasks.list(f.scope(orgId, 'u'), boardId, filters as never, pageSize, token);
    expect(page.items.length).toBeLessThanOrEqual(pageSize);
    if (page.nextPageToken) expect(page.items.length).toBe(pageSize);
    ids.push(...page.items.map((r) => r.id));
    token = page.nextPageToken;
    if (!token) return ids;
    expect(pages).toBeLessThan(1000);
  }
}

function board(lists = 4) {
  const o = f.newOrg();
  const listIds = Array.from({ length: lists }, () => randomUUID());
  f.boards.get(o.orgId)!.set(o.boardId, new Set(listIds));
  return { ...o, listIds };
}

describe('the board page in one statement', () => {
  it('lists by list then position, with every filter, across lists at every page size', async () => {
    const b = board(5);
    // An empty list in the middle and at the end, lists of different lengths.
    const tasks = await seed(b.orgId, b.boardId, b.listIds, [7, 0, 12, 1, 0], 1);
    const someone = tasks.find((t) => t.assignees.length > 0)!.assignees[0]!;
    const someLabel = tasks.find((t) => t.labels.length > 0)!.labels[0]!;
    const cases: BoardFilters[] = [
      { showArchived: false },
      { showArchived: true },
      { showArchived: false, status: 'IN_PROGRESS' },
      { showArchived: true, assigneeId: someone },
      { showArchived: true, label: someLabel },
      { showArchived: false, status: 'TODO', label: someLabel },
    ];
    for (const filters of cases) {
      const want = expected(tasks, b.listIds, filters);
      for (const pageSize of [1, 2, 3, 5, 7, 8, 19, 500]) {
        expect(await allPages(b.orgId, b.boardId, filters, pageSize), `${JSON.stringify(filters)} by ${pageSize}`).toEqual(want);
      }
    }
    // One list only (the list filter), paged.
    const one = b.listIds[2]!;
    expect(await allPages(b.orgId, b.boardId, { showArchived: true, listId: one }, 4)).toEqual(expected(tasks, [one], { showArchived: true }));
  });

  it('resumes in a list at its new place after it moved, and at the old index after it was deleted', async () => {
    const b = board(4);
    const [l0, l1, l2, l3] = b.listIds as [string, string, string, string];
    const tasks = await seed(b.orgId, b.boardId, b.listIds, [3, 4, 3, 2], 2);
    const all = { showArchived: true };
    const scope = f.scope(b.orgId, 'u');
    // The first page ends inside l1 (3 of l0, 2 of l1).
    const first = await f.tasks.list(scope, b.boardId, all, 5, '');
    expect(first.items.map((r) => r.id)).toEqual(expected(tasks, [l0, l1], all).slice(0, 5));
    const restOf = (listId: string) => expected(tasks, [listId], all);

    // l1 moves to the end: the rest of l1, then nothing (l0, l2, l3 came before it now).
    f.boards.get(b.orgId)!.set(b.boardId, new Set([l0, l2, l3, l1]));
    const moved = await f.tasks.list(scope, b.boardId, all, 100, first.nextPageToken);
    expect(moved.items.map((r) => r.id)).toEqual(restOf(l1).slice(2));

    // l1 moves to the front: the rest of l1, then l0, l2, l3.
    f.boards.get(b.orgId)!.set(b.boardId, new Set([l1, l0, l2, l3]));
    const front = await f.tasks.list(scope, b.boardId, all, 100, first.nextPageToken);
    expect(front.items.map((r) => r.id)).toEqual([...restOf(l1).slice(2), ...restOf(l0), ...restOf(l2), ...restOf(l3)]);

    // l1 deleted: resume at its old index (1), from the start of the list now there (l2), then l3.
    f.boards.get(b.orgId)!.set(b.boardId, new Set([l0, l2, l3]));
    const deleted = await f.tasks.list(scope, b.boardId, all, 100, first.nextPageToken);
    expect(deleted.items.map((r) => r.id)).toEqual([...restOf(l2), ...restOf(l3)]);

    // Deleted and the old index is past the end now: an empty last page.
    f.boards.get(b.orgId)!.set(b.boardId, new Set([l0]));
    const gone = await f.tasks.list(scope, b.boardId, all, 100, first.nextPageToken);
    expect(gone).toMatchObject({ items: [], nextPageToken: '' });
  });

  it('keeps the cursor across a task moved or deleted at the page boundary', async () => {
    const b = board(2);
    const tasks = await seed(b.orgId, b.boardId, b.listIds, [4, 3], 3);
    const all = { showArchived: true };
    const scope = f.scope(b.orgId, 'u');
    const want = expected(tasks, b.listIds, all);
    const first = await f.tasks.list(scope, b.boardId, all, 2, '');
    // The last task served is deleted: the next page still starts after its key.
    await admin.query('delete from tasks where id = $1', [want[1]]);
    const second = await f.tasks.list(scope, b.boardId, all, 100, first.nextPageToken);
    expect(second.items.map((r) => r.id)).toEqual(want.slice(2));
  });

  it('reads nothing when the board has no lists, and answers a board of another org with nothing', async () => {
    const b = board(0);
    expect(await f.tasks.list(f.scope(b.orgId, 'u'), b.boardId, { showArchived: true }, 10, '')).toMatchObject({ items: [], nextPageToken: '' });
    const mine = board(1);
    await f.tasks.create(f.scope(mine.orgId, mine.userId), mine.boardId, {
      listId: mine.listIds[0]!, title: 'mine', description: '', priority: 'LOW', assignees: [], labels: [], dueTime: null,
    }, '');
    const other = f.newOrg();
    // Another org's em asking for this board's lists by id: both walls keep the rows out.
    const rows = await store.boardPage(ctxOf(other.orgId), mine.boardId, mine.listIds, { showArchived: true }, undefined, 10);
    expect(rows).toEqual([]);
  });
});

describe('row-level security behind the board page statement', () => {
  it('shows only the set org rows even with the org condition taken out of the statement', async () => {
    const a = board(1);
    const b = board(1);
    for (const o of [a, b]) {
      await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, {
        listId: o.listIds[0]!, title: 'walls', description: '', priority: 'LOW', assignees: [], labels: [], dueTime: null,
      }, '');
    }
    const query = boardPageQuery(b.orgId, b.boardId, b.listIds, { showArchived: true }, undefined, 10)!;
    // The ORM-side wall is in the statement…
    expect(query.toQuery().text).toMatch(/t\.org_id = \$\d+::uuid/);
    // …and with it neutralised, RLS alone still hides org b's rows from org a.
    const at = query.chunks.findIndex((c) => c.endsWith('where t.org_id = '));
    const chunks = query.chunks.map((c, i) => (i === at ? c.replace(/t\.org_id = $/, '(t.org_id = ') : i === at + 1 ? c.replace(/^::uuid/, '::uuid or true)') : c));
    const noOrgWall = new SqlFragment(chunks, query.values);
    expect(noOrgWall.toQuery().text).toMatch(/\(t\.org_id = \$\d+::uuid or true\)/);
    const asA = await selectTextRowsInOrg(forkForOrg(f.db.em, a.orgId), a.orgId, noOrgWall);
    expect(asA).toEqual([]);
    const asB = await selectTextRowsInOrg(forkForOrg(f.db.em, b.orgId), b.orgId, noOrgWall);
    expect(asB).toHaveLength(1);
  });
});

/** The old path's bytes: node-postgres's own parsers → TaskRecord → toTaskMessage → ts-proto. */
async function referenceRecords(orgId: string, boardId: string): Promise<Map<string, TaskRecord>> {
  const rows = (await admin.query('select * from tasks where org_id = $1 and board_id = $2', [orgId, boardId])).rows;
  return new Map(
    rows.map((r) => [
      r.id,
      {
        id: r.id, orgId: r.org_id, boardId: r.board_id, listId: r.list_id, position: r.position, title: r.title,
        description: r.description, status: r.status, priority: r.priority, assignees: r.assignees, labels: r.labels,
        dueTime: r.due_time, startTime: r.start_time, archived: r.archived, creatorId: r.creator_id, createRequestId: r.create_request_id,
        version: r.version, createdAt: r.created_at, updatedAt: r.updated_at,
      } as TaskRecord,
    ]),
  );
}

describe('task rows to protobuf bytes (db/task-bytes.ts)', () => {
  it('writes exactly the bytes ts-proto writes for the same tasks, pages and single tasks', async () => {
    for (const seedNo of [11, 12, 13]) {
      const b = board(3);
      await seed(b.orgId, b.boardId, b.listIds, [25, 10, 25], seedNo);
      const reference = await referenceRecords(b.orgId, b.boardId);
      const rows: TaskRow[] = await store.boardPage(ctxOf(b.orgId), b.boardId, b.listIds, { showArchived: true }, undefined, 500);
      expect(rows).toHaveLength(60);
      const records = rows.map((r) => reference.get(r[COL.id]!)!);
      for (const token of ['', 'eyJ2IjoxLCJhIjpbIngiXX0']) {
        const want = Buffer.from(ListTasksResponse.encode({ tasks: records.map(toTaskMessage), nextPageToken: token }).finish());
        expect(encodeListTasksResponse(b.orgId, b.boardId, rows, token).equals(want)).toBe(true);
      }
      expect(encodeListTasksResponse(b.orgId, b.boardId, [], '').length).toBe(0);
      for (const [i, row] of rows.entries()) {
        const want = Buffer.from(GetTaskResponse.encode({ task: toTaskMessage(records[i]!) }).finish());
        expect(encodeTaskResponse(b.orgId, b.boardId, row).equals(want), `task ${JSON.stringify(records[i])}`).toBe(true);
        // The record made from the row is the one node-postgres's parsers make.
        expect(taskOf(row)).toEqual(records[i]);
      }
    }
  });

  it('reads a task for GetTask with the same record as before, and nothing of another org', async () => {
    const o = board(1);
    const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, {
      listId: o.listIds[0]!, title: 'Ünïcode ✓', description: 'd', priority: 'HIGH', assignees: [], labels: ['a b', 'c"d'], dueTime: new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678)),
    }, '');
    const read = await f.tasks.get(f.scope(o.orgId, o.userId), o.boardId, t.id);
    expect(read).toEqual({ ...t });
    expect(read).toEqual((await referenceRecords(o.orgId, o.boardId)).get(t.id));
    const other = f.newOrg();
    expect(await store.getRow(ctxOf(other.orgId), o.boardId, t.id)).toBeNull();
    // Another board of the same org: NOT_FOUND, for GetTask and for a listing's rows by id.
    const otherBoard = randomUUID();
    f.boards.get(o.orgId)!.set(otherBoard, new Set([randomUUID()]));
    await expect(f.tasks.get(f.scope(o.orgId, o.userId), otherBoard, t.id)).rejects.toThrow(/not found|NOT_FOUND/i);
    expect(await store.getRow(ctxOf(o.orgId), otherBoard, t.id)).toBeNull();
    expect(await store.rowsWithStamps(ctxOf(o.orgId), otherBoard, [t.id])).toEqual([]);
    expect((await store.rowsWithStamps(ctxOf(o.orgId), o.boardId, [t.id]))[0]!.row[COL.id]).toBe(t.id);
  });
});

describe('listings from the bytes of known row versions (task-bytes-cache.ts)', () => {
  /** A whole listing's response bytes, page by page, as the handler sends them. */
  async function listingBytes(orgId: string, boardId: string, pageSize: number): Promise<Buffer[]> {
    const pages: Buffer[] = [];
    let token = '';
    do {
      const page = await f.tasks.list(f.scope(orgId, 'u'), boardId, { showArchived: true }, pageSize, token);
      pages.push(page.response);
      expect(page.response.equals(listTasksResponseOf(page.items.map((t) => t.bytes), page.nextPageToken))).toBe(true);
      token = page.nextPageToken;
    } while (token);
    return pages;
  }

  it('answers with ts-proto\'s bytes of the current rows, cold and warm, and shows any writer\'s change at once', async () => {
    const b = board(3);
    await seed(b.orgId, b.boardId, b.listIds, [9, 4, 9], 21);
    const reference = async () => {
      const records = await referenceRecords(b.orgId, b.boardId);
      const order = await allPages(b.orgId, b.boardId, { showArchived: true }, 500);
      return Buffer.from(ListTasksResponse.encode({ tasks: order.map((id) => toTaskMessage(records.get(id)!)), nextPageToken: '' }).finish());
    };
    const cold = await listingBytes(b.orgId, b.boardId, 500);
    expect(Buffer.concat(cold).equals(await reference())).toBe(true);
    // Warm: the same request again is answered with the response made before, after checking the page's digest.
    const versionsRead = SqlTaskStore.prototype.boardPageVersions;
    let versionReads = 0;
    SqlTaskStore.prototype.boardPageVersions = function (this: SqlTaskStore, ...args) {
      versionReads++;
      return versionsRead.apply(this, args);
    };
    let warm: Buffer[];
    try {
      warm = await listingBytes(b.orgId, b.boardId, 500);
      expect(versionReads).toBe(0);
    } finally {
      SqlTaskStore.prototype.boardPageVersions = versionsRead;
    }
    expect(Buffer.concat(warm).equals(await reference())).toBe(true);
    expect(Buffer.concat(warm).equals(Buffer.concat(cold))).toBe(true);
    // Paged small, across lists: the same tasks, each page's bytes decode to the reference tasks.
    const small = await listingBytes(b.orgId, b.boardId, 4);
    expect(small.flatMap((page) => ListTasksResponse.decode(page).tasks.map((t) => Task.encode(t).finish().length))).toHaveLength(22);

    // A change made outside the service, version untouched: the row's new version is read, not the kept bytes.
    const [victim] = await allPages(b.orgId, b.boardId, { showArchived: true }, 1);
    await admin.query(`update tasks set title = 'changed behind the service''s back ✓' where id = $1`, [victim]);
    const after = await listingBytes(b.orgId, b.boardId, 500);
    expect(ListTasksResponse.decode(after[0]!).tasks[0]!.title).toBe("changed behind the service's back ✓");
    expect(Buffer.concat(after).equals(await reference())).toBe(true);
    // A move by the service (version bumped, list changed): the task shows in its new place with its new list.
    const moved = await f.tasks.move(f.scope(b.orgId, b.userId), b.boardId, victim!, { listId: b.listIds[2]! }, '');
    const afterMove = ListTasksResponse.decode(Buffer.concat(await listingBytes(b.orgId, b.boardId, 500)));
    const last = afterMove.tasks[afterMove.tasks.length - 1]!;
    expect(last.name.endsWith(victim!)).toBe(true);
    expect(last.list.endsWith(b.listIds[2]!)).toBe(true);
    expect(last.etag).toBe(`v${moved.version}`);
    expect(Buffer.concat(await listingBytes(b.orgId, b.boardId, 500)).equals(await reference())).toBe(true);
  });

  it('reads the page again when a task changes between the page and its rows', async () => {
    const b = board(1);
    // Ids from the reference, so that nothing of this board is in the cache yet.
    const [first, second] = expected(await seed(b.orgId, b.boardId, b.listIds, [5], 22), b.listIds, { showArchived: true });
    const original = SqlTaskStore.prototype.rowsWithStamps;
    let calls = 0;
    SqlTaskStore.prototype.rowsWithStamps = async function (this: SqlTaskStore, ctx, boardId, ids) {
      // The first time only: another writer moves the second task to the front and retitles it in between.
      if (calls++ === 0) await admin.query(`update tasks set position = '0', title = 'jumped' where id = $1`, [second]);
      return original.call(this, ctx, boardId, ids);
    };
    try {
      const page = await f.tasks.list(f.scope(b.orgId, 'u'), b.boardId, { showArchived: true }, 500, '');
      // The page is the one read after the change: its order and its bytes agree.
      expect(page.items.map((t) => t.id).slice(0, 2)).toEqual([second, first]);
      expect(Task.decode(page.items[0]!.bytes).title).toBe('jumped');
      expect(calls).toBeGreaterThanOrEqual(2);
    } finally {
      SqlTaskStore.prototype.rowsWithStamps = original;
    }
  });

  it('reads the page\'s rows in one statement when its tasks keep changing under it', async () => {
    const b = board(1);
    const tasks = await seed(b.orgId, b.boardId, b.listIds, [4], 23);
    const ids = expected(tasks, b.listIds, { showArchived: true });
    const original = SqlTaskStore.prototype.rowsWithStamps;
    let calls = 0;
    SqlTaskStore.prototype.rowsWithStamps = async function (this: SqlTaskStore, ctx, boardId, wanted) {
      // Every time: the first task is touched (a new row version) between the page and its rows.
      calls++;
      await admin.query(`update tasks set title = 'touched ' || $2 where id = $1`, [ids[0], calls]);
      return original.call(this, ctx, boardId, wanted);
    };
    try {
      const page = await f.tasks.list(f.scope(b.orgId, 'u'), b.boardId, { showArchived: true }, 500, '');
      expect(calls).toBe(3);
      expect(page.items.map((t) => t.id)).toEqual(ids);
      expect(Task.decode(page.items[0]!.bytes).title).toBe('touched 3');
      const records = await referenceRecords(b.orgId, b.boardId);
      const want = Buffer.from(ListTasksResponse.encode({ tasks: ids.map((id) => toTaskMessage(records.get(id)!)), nextPageToken: '' }).finish());
      expect(listTasksResponseOf(page.items.map((t) => t.bytes), '').equals(want)).toBe(true);
    } finally {
      SqlTaskStore.prototype.rowsWithStamps = original;
    }
  });

  it('computes the same page digest in PostgreSQL as from the page\'s row versions, and a new one after any change', async () => {
    const b = board(3);
    await seed(b.orgId, b.boardId, b.listIds, [6, 0, 5], 24);
    const ctx = ctxOf(b.orgId);
    for (const [after, limit] of [[undefined, 501], [undefined, 4], [{ listIndex: 2, position: '' }, 3], [{ listIndex: 3, position: '' }, 10]] as const) {
      const versions = await store.boardPageVersions(ctx, b.boardId, b.listIds, { showArchived: true }, after, limit);
      expect(await store.boardPageDigest(ctx, b.boardId, b.listIds, { showArchived: true }, after, limit)).toBe(pageDigestOf(versions));
    }
    const before = await store.boardPageDigest(ctx, b.boardId, b.listIds, { showArchived: true }, undefined, 501);
    const [first] = await store.boardPageVersions(ctx, b.boardId, b.listIds, { showArchived: true }, undefined, 1);
    await admin.query('update tasks set title = title where id = $1', [first![0]]);
    expect(await store.boardPageDigest(ctx, b.boardId, b.listIds, { showArchived: true }, undefined, 501)).not.toBe(before);
  });

  it('serves kept bytes for one org, board and row version only', async () => {
    const b = board(1);
    const [first] = expected(await seed(b.orgId, b.boardId, b.listIds, [3], 25), b.listIds, { showArchived: true });
    const rows = f.caches.rows;
    await f.tasks.list(f.scope(b.orgId, 'u'), b.boardId, { showArchived: true }, 500, '');
    const [stamp] = (await admin.query<{ stamp: string }>(`select xmin::text || '/' || version as stamp from tasks where id = $1`, [first])).rows.map((r) => r.stamp);
    const kept = rows.get(first!, stamp!);
    expect(kept?.board).toBe(BoardPrefixes.of(b.orgId, b.boardId));
    expect(rows.get(first!, `${stamp}0`)).toBeUndefined();
    // The same org and board made anew (the prefixes forgotten meanwhile) is not the object the bytes were made for.
    expect(kept?.board).not.toBe(new BoardPrefixes(b.orgId, b.boardId));
  });
});
