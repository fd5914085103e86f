import type { PostgreSqlConnection } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { callOrgReadFunction, selectInOrg, selectTextRowsInOrg } from '../src/db/one-trip-read.ts';
import { TASK_ROW_COLUMNS } from '../src/db/task-rows.ts';
import { startTaskFixture, type TaskFixture } from './task-fixture.ts';

let f: TaskFixture;
beforeAll(async () => {
  f = await startTaskFixture();
});
afterAll(async () => {
  await f?.close();
});

async function newTask(): Promise<{ orgId: string; taskId: string; boardId: string }> {
  const o = f.newOrg();
  const task = await f.tasks.create(f.scope(o.orgId, o.userId), o.boardId, {
    listId: o.listIds[0]!,
    title: 'one trip',
    description: '',
    priority: 'MEDIUM',
    assignees: [],
    labels: [],
    dueTime: null,
  }, '');
  return { orgId: o.orgId, taskId: task.id, boardId: o.boardId };
}

describe('selectInOrg', () => {
  it('sees only the given org rows through RLS, even when the query names no org', async () => {
    const a = await newTask();
    const b = await newTask();
    const em = forkForOrg(f.db.em, a.orgId);
    const sql = 'select t.id, t.org_id from tasks t where t.id in (?, ?)';
    expect(await selectInOrg<{ id: string }>(em, a.orgId, sql, [a.taskId, b.taskId])).toEqual([{ id: a.taskId, org_id: a.orgId }]);
    expect(await selectInOrg<{ id: string }>(em, b.orgId, sql, [a.taskId, b.taskId])).toEqual([{ id: b.taskId, org_id: b.orgId }]);
  });

  it('runs as the app role with the org set, and leaves neither on the pooled connection', async () => {
    const { orgId } = await newTask();
    const em = forkForOrg(f.db.em, orgId);
    const [row] = await selectInOrg<{ role: string; org: string; superuser: string }>(
      em,
      orgId,
      "select current_user as role, current_setting('app.org_id', true) as org, current_setting('is_superuser') as superuser",
      [],
    );
    expect(row).toEqual({ role: 'taskmesh_app', org: orgId, superuser: 'off' });
    // The pool hands back the connection it was just given (its idle list is last in, first out).
    const pool = (await (em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
    const client = await pool.connect();
    try {
      const after = await client.query("select coalesce(current_setting('app.org_id', true), '') as org");
      expect(after.rows[0].org).toBe('');
    } finally {
      client.release();
    }
  });

  it('writes values as literals, quotes and backslashes included', async () => {
    const { orgId } = await newTask();
    const em = forkForOrg(f.db.em, orgId);
    const odd = "it's a \\ test'; select 1; --";
    expect(await selectInOrg<{ v: string; n: number }>(em, orgId, 'select ?::text as v, ?::int as n', [odd, 42])).toEqual([{ v: odd, n: 42 }]);
  });

  it('reads a task as GetTask does, and nothing of another org', async () => {
    const a = await newTask();
    const b = await newTask();
    expect((await f.tasks.get(f.scope(a.orgId, 'u'), a.boardId, a.taskId)).id).toBe(a.taskId);
    await expect(f.tasks.get(f.scope(b.orgId, 'u'), a.boardId, a.taskId)).rejects.toThrow();
  });
});

describe('callOrgReadFunction (read_task_in_org, migration 0003)', () => {
  it('gives the row the one-trip select gives, and nothing of another org', async () => {
    const a = await newTask();
    const b = await newTask();
    const em = forkForOrg(f.db.em, a.orgId);
    const [viaSelect] = await selectTextRowsInOrg(em, a.orgId, `select ${TASK_ROW_COLUMNS}, t.board_id from tasks t where t.org_id = ? and t.id = ?`, [a.orgId, a.taskId]);
    expect(await callOrgReadFunction(em, 'read_task_in_org', [a.orgId, a.taskId])).toEqual([viaSelect]);
    expect(viaSelect!.at(-1)).toBe(a.boardId);
    expect(await callOrgReadFunction(em, 'read_task_in_org', [a.orgId, b.taskId])).toEqual([]);
    expect(await callOrgReadFunction(em, 'read_task_in_org', [b.orgId, a.taskId])).toEqual([]);
  });

  it('runs its select as the app role with the org set, and leaves neither on the pooled connection', async () => {
    const a = await newTask();
    const em = forkForOrg(f.db.em, a.orgId);
    const pool = (await (em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
    const client = await pool.connect();
    try {
      // Inside a transaction of our own, to look at what the call set before it ends.
      await client.query('begin');
      const schema = em.config.get('schema')!;
      const called = await client.query(`select count(*)::int as n from "${schema}".read_task_in_org($1, $2)`, [a.orgId, a.taskId]);
      const inside = await client.query("select current_user as role, current_setting('app.org_id', true) as org, current_setting('is_superuser') as superuser");
      // RLS alone: with the role and org the call set, a select naming no org sees this org's rows only.
      const visible = await client.query(`select distinct org_id from "${schema}".tasks`);
      await client.query('rollback');
      expect(called.rows[0].n).toBe(1);
      expect(inside.rows[0]).toEqual({ role: 'taskmesh_app', org: a.orgId, superuser: 'off' });
      expect(visible.rows).toEqual([{ org_id: a.orgId }]);
      // Statement over: nothing is left (the connection runs as it did before, with no org).
      await client.query(`select * from "${schema}".read_task_in_org($1, $2)`, [a.orgId, a.taskId]);
      const after = await client.query("select coalesce(current_setting('app.org_id', true), '') as org");
      expect(after.rows[0].org).toBe('');
    } finally {
      client.release();
    }
  });

  it('answers GetTask through it (the same task, NOT_FOUND for another org and another board)', async () => {
    const a = await newTask();
    const b = await newTask();
    expect((await f.tasks.get(f.scope(a.orgId, 'u'), a.boardId, a.taskId)).id).toBe(a.taskId);
    await expect(f.tasks.get(f.scope(b.orgId, 'u'), b.boardId, a.taskId)).rejects.toThrow(/not found|NOT_FOUND/i);
  });
});
