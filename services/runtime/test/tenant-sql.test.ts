import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type pg from 'pg';
import type { PostgreSqlConnection } from '@mikro-orm/postgresql';
import { Migration } from '@mikro-orm/migrations';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/database.ts';
import { tenantRowLevelSecuritySql } from '../src/row-level-security.ts';
import { createTestDatabase, type TestDatabase } from '../src/testing/test-database.ts';
import { selectInOrg, selectTextRowsInOrg, sql, withAppConnection, withOrgConnection } from '../src/tenant-sql.ts';

// The tenant-scoped SQL door on real PostgreSQL: both walls, parameters, every exit path of a connection.
class NotesSchema extends Migration {
  override name = '0001-notes';
  override up(): void {
    this.addSql('create table notes (id uuid primary key, org_id uuid not null, body text not null)');
    this.addSql(tenantRowLevelSecuritySql('notes'));
  }
}

const log = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
let testDb: TestDatabase;
let db: Database;
const orgA = randomUUID();
const orgB = randomUUID();

/** The ORM pool's connections: total and idle. */
async function poolCounts(): Promise<{ total: number; idle: number }> {
  const pool = (await (db.em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
  return { total: pool.totalCount, idle: pool.idleCount };
}

const insert = (org: string, body: string, id = randomUUID()) => sql`insert into notes (id, org_id, body) values (${id}, ${org}, ${body})`;

beforeAll(async () => {
  testDb = await createTestDatabase();
  db = await openDatabase({
    service: 'door',
    entities: [],
    migrations: [{ name: '0001-notes', class: NotesSchema }],
    databaseUrl: testDb.databaseUrl,
    log,
    poolMax: 3,
  });
  await withOrgConnection(db.em, orgA, async (tx) => {
    await tx.commit(insert(orgA, 'a1'), insert(orgA, 'a2'));
  });
  await withOrgConnection(db.em, orgB, async (tx) => {
    await tx.commit(insert(orgB, 'b1'));
  });
});

afterAll(async () => {
  await db?.close();
  await testDb?.drop();
});

describe('withOrgConnection', () => {
  it('runs as the app role in the service schema with the org set, so RLS hides other orgs even without a filter', async () => {
    const rows = await selectInOrg<{ body: string; who: string; path: string; org: string }>(
      db.em,
      orgA,
      sql`select body, current_user as who, current_setting('search_path') as path, current_setting('app.org_id') as org from notes order by body`,
    );
    expect(rows.map((r) => r.body)).toEqual(['a1', 'a2']);
    expect(rows[0]).toMatchObject({ who: 'taskmesh_app', path: '"door"', org: orgA });
  });

  it('refuses to write a row of another org (the policies WITH CHECK)', async () => {
    await expect(withOrgConnection(db.em, orgA, async (tx) => void (await tx.query(insert(orgB, 'smuggled'))))).rejects.toThrow(/row-level security/);
    expect(await selectInOrg(db.em, orgB, sql`select body from notes`)).toEqual([{ body: 'b1' }]);
  });

  it('sends every value as a parameter: quotes, semicolons and SQL in values are data', async () => {
    const nasty = `'); delete from notes; select ('`;
    await withOrgConnection(db.em, orgA, async (tx) => void (await tx.query(insert(orgA, nasty))));
    const rows = await selectInOrg<{ body: string }>(db.em, orgA, sql`select body from notes where body = ${nasty}`);
    expect(rows).toEqual([{ body: nasty }]);
    const statement = sql`select ${sql`${1}::int + ${2}::int`} as sum where ${'x'} = ${'x'}`.toQuery();
    expect(statement).toEqual({ text: 'select $1::int + $2::int as sum where $3 = $4', values: [1, 2, 'x', 'x'] });
    await withOrgConnection(db.em, orgA, async (tx) => void (await tx.query(sql`delete from notes where body = ${nasty}`)));
  });

  it('refuses NUL in text before anything is sent', async () => {
    await expect(withOrgConnection(db.em, orgA, async (tx) => tx.query(sql`select ${'a\0b'}`))).rejects.toThrow(/NUL/);
  });

  it('rolls back everything when the body throws, and hands the connection back clean', async () => {
    const id = randomUUID();
    await expect(
      withOrgConnection(db.em, orgA, async (tx) => {
        await tx.query(insert(orgA, 'rolled back', id));
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await selectInOrg(db.em, orgA, sql`select 1 from notes where id = ${id}`)).toEqual([]);
    const counts = await poolCounts();
    expect(counts.idle).toBe(counts.total);
    // The next user of a pooled connection starts outside any transaction, with no org left over.
    const [state] = await db.em.getConnection().execute<{ org: string | null }[]>(`select current_setting('app.org_id', true) as org`);
    expect(state?.org ?? '').toBe('');
  });

  it('rolls back when a statement fails, the error reaching the caller', async () => {
    const id = randomUUID();
    await expect(
      withOrgConnection(db.em, orgA, async (tx) => {
        void tx.query(insert(orgA, 'first', id));
        await tx.commit(sql`insert into notes (id, org_id, body) values (${id}, ${orgA}, 'duplicate')`);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await selectInOrg(db.em, orgA, sql`select 1 from notes where id = ${id}`)).toEqual([]);
    const counts = await poolCounts();
    expect(counts.idle).toBe(counts.total);
  });

  it('discards the connection when aborted mid-statement', async () => {
    const controller = new AbortController();
    const slow = withOrgConnection(db.em, orgA, async (tx) => tx.query(sql`select pg_sleep(5)`), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 100);
    const started = Date.now();
    await expect(slow).rejects.toThrow('client went away');
    expect(Date.now() - started).toBeLessThan(3_000);
    const counts = await poolCounts();
    expect(counts.idle).toBe(counts.total);
    expect(await selectInOrg(db.em, orgB, sql`select body from notes`)).toEqual([{ body: 'b1' }]);
  });

  it('releases every connection: more transactions than the pool holds all complete', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => selectInOrg(db.em, i % 2 ? orgA : orgB, sql`select count(*) from notes`)));
    const counts = await poolCounts();
    expect(counts.total).toBeLessThanOrEqual(3);
    expect(counts.idle).toBe(counts.total);
  });

  it('fires the ORM after-commit hook once per committed write, never on rollback or reads', async () => {
    let fired = 0;
    db.em.getEventManager().registerSubscriber({ afterTransactionCommit: () => void fired++ });
    await withOrgConnection(db.em, orgA, async (tx) => void (await tx.query(insert(orgA, 'hooked'))));
    expect(fired).toBe(1);
    await withOrgConnection(db.em, orgA, async () => {
      throw new Error('no');
    }).catch(() => undefined);
    await selectInOrg(db.em, orgA, sql`select 1`);
    expect(fired).toBe(1);
  });

  it('gives text rows untouched, and pipelines reads with the commit', async () => {
    const rows = await selectTextRowsInOrg(db.em, orgB, sql`select body, true, 42::int8, array['x','y'] from notes`);
    expect(rows).toEqual([['b1', 't', '42', '{x,y}']]);
    const [one, two] = await withOrgConnection(db.em, orgA, async (tx) =>
      (await tx.commit(sql`select 1 as n`, sql`select count(*)::int as n from notes`)).map((r) => r.rows[0]),
    );
    expect(one).toEqual({ n: 1 });
    expect(two).toEqual({ n: 3 });
  });

  it('moves a batch to another org in the same transaction (enterOrg), and scopes a no-org door by its settings', async () => {
    const ids = [randomUUID(), randomUUID()];
    await withOrgConnection(db.em, orgA, async (tx) => {
      void tx.query(insert(orgA, 'batch a', ids[0]));
      tx.enterOrg(orgB);
      await tx.commit(insert(orgB, 'batch b', ids[1]));
    });
    const seen = await withAppConnection(db.em, {}, async (tx) => (await tx.query(sql`select count(*)::int as n from notes`)).rows[0]);
    expect(seen).toEqual({ n: 0 });
    expect(await selectInOrg(db.em, orgB, sql`select body from notes where id = any(${ids}::uuid[])`)).toEqual([{ body: 'batch b' }]);
  });
});
