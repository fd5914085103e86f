import { randomUUID } from 'node:crypto';
import { status as GrpcCode } from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { selectInOrg, sql, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import { boardPageQuery } from '../src/db/task-store.ts';
import { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { draft, startTaskFixture, type TaskFixture } from './task-fixture.ts';

let f: TaskFixture;
beforeAll(async () => {
  f = await startTaskFixture();
});
afterAll(async () => {
  await f?.close();
});


/** Every task of a list in stored order, checking that the keys are strictly increasing byte-wise. */
async function listOrder(orgId: string, listId: string): Promise<string[]> {
  const rows = await selectInOrg<{ id: string; position: string }>(
    f.db.em,
    orgId,
    sql`select id, position from tasks where org_id = ${orgId}::uuid and list_id = ${listId}::uuid order by position`,
  );
  for (let i = 1; i < rows.length; i++) {
    expect(Buffer.compare(Buffer.from(rows[i - 1]!.position), Buffer.from(rows[i]!.position))).toBe(-1);
  }
  return rows.map((r) => r.id);
}

describe('creating tasks', () => {
  it('appends each new task at the end of its list, as TODO, with its creator', async () => {
    const o = f.newOrg();
    const a = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'a'), '');
    const b = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'b'), '');
    expect(a.status).toBe('TODO');
    expect(a.creatorId).toBe(o.userId);
    expect(await listOrder(o.orgId, o.listIds[0]!)).toEqual([a.id, b.id]);
  });

  it('records TaskCreated and TaskAssigned in the outbox with the task', async () => {
    const o = f.newOrg();
    const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'x', { assignees: [o.userId] }), '');
    const events = await f.db.em.fork().find(OutboxEvent, { resource: { $like: `%/tasks/${t.id}` } }, { orderBy: { seq: 'asc' } });
    expect(events.map((e) => e.type)).toEqual(['taskmesh.task.v1.TaskCreated', 'taskmesh.task.v1.TaskAssigned']);
    expect(events[0]!.organization).toBe(`organizations/${o.orgId}`);
  });

  it('returns the first task for concurrent creates with one request id, and stores one', async () => {
    const o = f.newOrg();
    const requestId = randomUUID();
    const results = await Promise.all(
      Array.from({ length: 6 }, () => f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'once'), requestId)),
    );
    expect(new Set(results.map((t) => t.id)).size).toBe(1);
    expect(await listOrder(o.orgId, o.listIds[0]!)).toEqual([results[0]!.id]);
  });

  it('gives concurrent creates in one list distinct, strictly ordered keys', async () => {
    const o = f.newOrg();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, `t${i}`), '')),
    );
    const order = await listOrder(o.orgId, o.listIds[0]!);
    expect(order.sort()).toEqual(results.map((t) => t.id).sort());
  });

  it('lands every one of 60 creates sent at once into one list (losers of a race queue on the list)', async () => {
    const o = f.newOrg();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, `burst${i}`), '')),
    );
    expect(new Set(results.map((t) => t.id)).size).toBe(60);
    expect((await listOrder(o.orgId, o.listIds[0]!)).length).toBe(60);
  });

  it('rejects a list the board does not have, a non-member assignee and bad content with field violations', async () => {
    const o = f.newOrg();
    const s = f.scope(o.orgId, o.userId);
    await expect(f.tasks.create(s, o.boardId, draft(randomUUID(), 't'), '')).rejects.toMatchObject({
      violations: [{ field: 'task.list' }],
    });
    await expect(f.tasks.create(s, o.boardId, draft(o.listIds[0]!, 't', { assignees: [randomUUID()] }), '')).rejects.toMatchObject({
      violations: [{ field: 'task.assignees' }],
    });
    const err = await f.tasks
      .create(s, o.boardId, draft(o.listIds[0]!, '', { description: 'd'.repeat(20_001), priority: undefined, labels: ['a', 'a'] }), '')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).violations.map((v) => v.field).sort()).toEqual(
      ['task.description', 'task.labels', 'task.title'].sort(),
    );
    expect(await codeOf(f.tasks.create(s, randomUUID(), draft(o.listIds[0]!, 't'), ''))).toBe(GrpcCode.NOT_FOUND);
  });
});

describe('updating tasks', () => {
  it('follows the status workflow and refuses other transitions with FAILED_PRECONDITION', async () => {
    const o = f.newOrg();
    const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 's'), '');
    const to = (status: 'TODO' | 'IN_PROGRESS' | 'DONE') =>
      f.tasks.update(f.scope(o.orgId, o.userId), o.boardId, t.id, { fields: ['status'], values: { status } }, '');
    expect(await codeOf(to('DONE'))).toBe(GrpcCode.FAILED_PRECONDITION);
    expect((await to('IN_PROGRESS')).status).toBe('IN_PROGRESS');
    expect((await to('DONE')).status).toBe('DONE');
    expect(await codeOf(to('TODO'))).toBe(GrpcCode.FAILED_PRECONDITION);
    expect((await to('IN_PROGRESS')).status).toBe('IN_PROGRESS');
    expect((await to('TODO')).status).toBe('TODO');
  });

  it('answers ABORTED to a stale etag and records the changed fields old → new', async () => {
    const o = f.newOrg();
    const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'old'), '');
    const staleEtag = `v${t.version}`;
    const updated = await f.tasks.update(
      f.scope(o.orgId, o.userId),
      o.boardId,
      t.id,
      { fields: ['title', 'labels'], values: { title: 'new', labels: ['x'] } },
      staleEtag,
    );
    expect(updated.version).toBe(t.version + 1);
    const again = f.tasks.update(f.scope(o.orgId, o.userId), o.boardId, t.id, { fields: ['title'], values: { title: 'z' } }, staleEtag);
    expect(await codeOf(again)).toBe(GrpcCode.ABORTED);
    const [event] = await f.db.em.fork().find(OutboxEvent, { type: 'taskmesh.task.v1.TaskUpdated', resource: { $like: `%/tasks/${t.id}` } });
    const payload = TaskUpdated.decode(event!.payload);
    expect(payload.changes).toEqual([
      { field: 'title', oldValue: 'old', newValue: 'new' },
      { field: 'labels', oldValue: [], newValue: ['x'] },
    ]);
  });
});

describe('ordering', () => {
  it('keeps a strict total order equal to a reference model through 1,000 random moves', async () => {
    const o = f.newOrg();
    const model = new Map<string, string[]>(o.listIds.map((l) => [l, []]));
    for (let i = 0; i < 24; i++) {
      const listId = o.listIds[i % 3]!;
      const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(listId, `t${i}`), '');
      model.get(listId)!.push(t.id);
    }
    // A seeded generator so a failure can be replayed.
    let seed = 20261123;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const all = () => [...model.values()].flat();
    for (let i = 0; i < 1000; i++) {
      const ids = all();
      const taskId = ids[random(ids.length)]!;
      const from = [...model.entries()].find(([, l]) => l.includes(taskId))![0];
      const listId = o.listIds[random(3)]!;
      const target = model.get(listId)!.filter((id) => id !== taskId);
      const kind = target.length === 0 ? 2 : random(3);
      const anchor = target[random(Math.max(target.length, 1))];
      await f.tasks.move(
        f.scope(o.orgId, o.userId),
        o.boardId,
        taskId,
        { listId, ...(kind === 0 ? { beforeTaskId: anchor! } : kind === 1 ? { afterTaskId: anchor! } : {}) },
        '',
      );
      model.set(from, model.get(from)!.filter((id) => id !== taskId));
      const at = kind === 0 ? target.indexOf(anchor!) : kind === 1 ? target.indexOf(anchor!) + 1 : target.length;
      target.splice(at, 0, taskId);
      model.set(listId, target);
    }
    for (const listId of o.listIds) expect(await listOrder(o.orgId, listId)).toEqual(model.get(listId));
  });

  it('gives two concurrent moves into the same gap a strict order', async () => {
    const o = f.newOrg();
    const list = o.listIds[0]!;
    const made = [];
    // a and b in the target list; x and y wait in another list and then race into the gap between a and b.
    for (const [title, listId] of [['a', list], ['b', list], ['x', o.listIds[1]!], ['y', o.listIds[1]!]] as const) {
      made.push(await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(listId, title), ''));
    }
    const [ta, tb, tx, ty] = made;
    const moved = await Promise.all(
      [tx!, ty!].map((t) => f.tasks.move(f.scope(o.orgId, o.userId), o.boardId, t.id, { listId: list, afterTaskId: ta!.id }, '')),
    );
    expect(moved[0]!.position).not.toBe(moved[1]!.position);
    const order = await listOrder(o.orgId, list);
    expect(order[0]).toBe(ta!.id);
    expect(order[3]).toBe(tb!.id);
    expect(order.slice(1, 3).sort()).toEqual([tx!.id, ty!.id].sort());
  });

  it('refuses an anchor outside the target list', async () => {
    const o = f.newOrg();
    const s = () => f.scope(o.orgId, o.userId);
    const a = await f.tasks.create(s(), o.boardId, draft(o.listIds[0]!, 'a'), '');
    const b = await f.tasks.create(s(), o.boardId, draft(o.listIds[1]!, 'b'), '');
    await expect(f.tasks.move(s(), o.boardId, a.id, { listId: o.listIds[0]!, beforeTaskId: b.id }, '')).rejects.toMatchObject({
      violations: [{ field: 'before_task' }],
    });
  });
});

describe('comments', () => {
  it('lists comments oldest first in pages and deletes them', async () => {
    const o = f.newOrg();
    const t = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, draft(o.listIds[0]!, 'c'), '');
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await f.tasks.addComment(f.scope(o.orgId, o.userId), o.boardId, t.id, `c${i}`, '')).id);
    const first = await f.tasks.listComments(f.scope(o.orgId, o.userId), o.boardId, t.id, 3, '');
    const second = await f.tasks.listComments(f.scope(o.orgId, o.userId), o.boardId, t.id, 3, first.nextPageToken);
    expect([...first.items, ...second.items].map((c) => c.id)).toEqual(ids);
    expect(second.nextPageToken).toBe('');
    await f.tasks.deleteComment(f.scope(o.orgId, o.userId), o.boardId, t.id, ids[0]!);
    expect((await f.tasks.listComments(f.scope(o.orgId, o.userId), o.boardId, t.id, 10, '')).items).toHaveLength(4);
  });
});

describe('search', () => {
  it('ranks title matches first, filters, and leaves out archived tasks and deleted boards', async () => {
    const o = f.newOrg();
    const s = () => f.scope(o.orgId, o.userId);
    const list = o.listIds[0]!;
    const inTitle = await f.tasks.create(s(), o.boardId, draft(list, 'Invoice the customers'), '');
    const inBody = await f.tasks.create(s(), o.boardId, draft(list, 'Quarter close', { description: 'send each invoice', assignees: [o.userId] }), '');
    await f.tasks.create(s(), o.boardId, draft(list, 'Unrelated'), '');
    const archived = await f.tasks.create(s(), o.boardId, draft(list, 'Old invoices'), '');
    await f.tasks.update(s(), o.boardId, archived.id, { fields: ['archived'], values: { archived: true } }, '');
    const found = await f.tasks.search(s(), { query: 'invoices' }, 10, '');
    expect(found.items.map((t) => t.id)).toEqual([inTitle.id, inBody.id]);
    const mine = await f.tasks.search(s(), { query: 'invoice', assigneeId: o.userId }, 10, '');
    expect(mine.items.map((t) => t.id)).toEqual([inBody.id]);
    const paged = await f.tasks.search(s(), { query: 'invoice' }, 1, '');
    const rest = await f.tasks.search(s(), { query: 'invoice' }, 1, paged.nextPageToken);
    expect([...paged.items, ...rest.items].map((t) => t.id)).toEqual([inTitle.id, inBody.id]);
    f.boards.get(o.orgId)!.delete(o.boardId);
    expect((await f.tasks.search(s(), { query: 'invoice' }, 10, '')).items).toEqual([]);
    expect(await codeOf(f.tasks.get(s(), o.boardId, inTitle.id))).toBe(GrpcCode.NOT_FOUND);
  });
});

describe('isolation in the database', () => {
  it('row-level security hides another org\'s tasks even from a query without the ORM filter', async () => {
    const a = f.newOrg();
    const b = f.newOrg();
    const t = await f.tasks.create(f.scope(b.orgId, b.userId), b.boardId, draft(b.listIds[0]!, 'secret'), '');
    const em = forkForOrg(f.db.em, a.orgId);
    expect(await selectInOrg(f.db.em, a.orgId, sql`select id from tasks where id = ${t.id}::uuid`)).toEqual([]);
    expect(await em.execute('select id from tasks where id = ?', [t.id])).toEqual([]);
  });
});

describe('query plans (real PostgreSQL)', () => {
  it('uses an index for the board listing and for search', async () => {
    const client = new pg.Client({ connectionString: f.testDb.databaseUrl });
    await client.connect();
    try {
      await client.query('set search_path to task');
      // Enough rows across many orgs and boards that a sequential scan is not the cheap plan.
      await client.query(`insert into tasks (id, org_id, board_id, list_id, position, title, description, status, priority,
          version, created_at, updated_at, creator_id)
        select gen_random_uuid(), ('00000000-0000-4000-8000-' || lpad((i % 4)::text, 12, '0'))::uuid,
          ('00000000-0000-4000-9000-' || lpad((i % 20)::text, 12, '0'))::uuid,
          ('00000000-0000-4000-a000-' || lpad((i % 100)::text, 12, '0'))::uuid, 'a' || i,
          'task number ' || i || case when i % 97 = 0 then ' quarterly invoice' else '' end, 'body ' || i || repeat(' lorem ipsum dolor', 20), 'TODO', 'LOW',
          1, now(), now(), gen_random_uuid()
        from generate_series(1, 20000) i`);
      await client.query('vacuum analyze tasks');
      const org = '00000000-0000-4000-8000-000000000003';
      const board = '00000000-0000-4000-9000-000000000007';
      // The board listing: TaskRepository.boardPage's own statement, its lists unnested with their order and
      // each read by a lateral index range scan; first page, a page resuming inside a list, and the row versions
      // of a page (the same statement selecting [id, xmin, version]).
      const lists = Array.from({ length: 5 }, (_, i) => `00000000-0000-4000-a000-${String(7 + 20 * i).padStart(12, '0')}`);
      const plans: string[] = [];
      for (const [after, shape] of [[undefined, 'rows'], [{ listIndex: 1, position: 'a5000' }, 'rows'], [undefined, 'versions']] as const) {
        const query = boardPageQuery(org, board, lists, { showArchived: false }, after, 51, shape)!;
        // Planned as it runs: through the door (app role, org set: RLS adds its check), values as parameters.
        const listing = await withOrgConnection(f.db.em, org, async (tx) => tx.query<Record<string, string>>(sql`explain ${query}`));
        plans.push(listing.rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
      for (const listingPlan of plans) {
        // Each list read in order from the index that leads with org_id, by a range on (org, board, list, position).
        expect(listingPlan).toMatch(/Nested Loop/);
        expect(listingPlan).toMatch(/Index Scan using tasks_board_order_idx on tasks t/);
        expect(listingPlan).toMatch(/Index Cond: \(\(org_id = .*\) AND \(board_id = .*\) AND \(list_id = l\.list_id\) AND \("position" > \(l\.after\)::text\)\)/);
        // The order is the SQL's ORDER BY, met without sorting the page as a whole: the lists come in order
        // (presorted key), and reading stops once the page is full.
        expect(listingPlan).toMatch(/Incremental Sort/);
        expect(listingPlan).toMatch(/Presorted Key: l\.ord/);
        expect(listingPlan).not.toMatch(/^\s*(->\s*)?Sort  \(/m);
      }
      const listingPlan = plans.join('\n');
      const search = await client.query(
        `explain select t.id, ts_rank(t.search, q) as rank from tasks t, websearch_to_tsquery('english', $1) q
          where t.search @@ q and t.org_id = $2 and not t.archived order by rank desc, t.id limit 51`,
        ['invoice', org],
      );
      // Few large orgs: a rare word is found through the full-text index, not by scanning the org's rows.
      const searchPlan = search.rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(searchPlan).toMatch(/Bitmap Index Scan on tasks_search_idx/);
      expect(listingPlan + searchPlan).not.toMatch(/Seq Scan/);
    } finally {
      await client.end();
    }
  });
});
