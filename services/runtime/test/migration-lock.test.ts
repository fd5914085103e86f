import { Migration } from '@mikro-orm/migrations';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { MIGRATION_LOCK_CLASS } from '@taskmesh/runtime/migration-lock';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';

// Migrations at start with N replicas: each replica takes the schema's advisory lock before migrating.
class NotRepeatable extends Migration {
  override name = '0001-not-repeatable';
  override up(): void {
    // Fails if applied twice: two replicas racing through it unlocked would break one of them.
    this.addSql('create table replica_marker (id int primary key)');
  }
}

const log = pino({ level: 'silent' });
let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

const open = (service: string) =>
  openDatabase({
    service,
    entities: [],
    migrations: [{ name: '0001-not-repeatable', class: NotRepeatable }],
    databaseUrl: testDb.databaseUrl,
    log,
    poolMax: 1,
  });

async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: testDb.databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('migrations under the advisory lock', () => {
  it('let four replicas that start together each come up, with every migration applied once', async () => {
    const replicas = await Promise.all([1, 2, 3, 4].map(() => open('racers')));
    try {
      const applied = await query<{ name: string }>('select name from racers.mikro_orm_migrations');
      expect(applied.map((m) => m.name)).toEqual(['0001-not-repeatable']);
    } finally {
      await Promise.all(replicas.map((db: Database) => db.close()));
    }
  });

  it('make a replica wait while another holds the lock, and migrate once it is released', async () => {
    const holder = new pg.Client({ connectionString: testDb.databaseUrl });
    await holder.connect();
    await holder.query('select pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, 'waiter']);
    let opened: Database | undefined;
    const opening = open('waiter').then((db) => (opened = db));
    try {
      // The replica's lock request shows up as an ungranted advisory lock; until then nothing is migrated.
      for (let found = false; !found; ) {
        const waiting = await query<{ n: string }>(
          `select count(*) as n from pg_locks l join pg_stat_activity a using (pid)
           where l.locktype = 'advisory' and not l.granted and a.application_name = 'taskmesh-migrate-waiter'`,
        );
        found = Number(waiting[0]!.n) > 0;
        if (!found) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const schema = await query(`select 1 from information_schema.tables where table_schema = 'waiter'`);
      expect(schema).toEqual([]);
      expect(opened).toBeUndefined();
    } finally {
      await holder.query('select pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, 'waiter']);
      await holder.end();
    }
    const db = await opening;
    const applied = await query<{ name: string }>('select name from waiter.mikro_orm_migrations');
    expect(applied.map((m) => m.name)).toEqual(['0001-not-repeatable']);
    await db.close();
  });
});
