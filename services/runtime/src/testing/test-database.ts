import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/**
 * Where integration tests keep their data: a fresh database of their own on real PostgreSQL when reachable
 * (TEST_DATABASE_URL, default the local server), dropped afterwards; embedded PGlite otherwise. With
 * TASKMESH_REQUIRE_POSTGRES=1 (CI) an unreachable PostgreSQL fails the run instead of falling back.
 */
export interface TestDatabase {
  /** undefined means embedded PGlite under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL || DEFAULT_URL;
  const dataDir = mkdtempSync(join(tmpdir(), 'taskmesh-test-'));
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => undefined);
    if (process.env.TASKMESH_REQUIRE_POSTGRES === '1') {
      throw new Error(`TASKMESH_REQUIRE_POSTGRES=1 but PostgreSQL at ${adminUrl} is unreachable: ${String(err)}`);
    }
    return {
      databaseUrl: undefined,
      dataDir,
      kind: 'pglite',
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const name = `taskmesh_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    databaseUrl: url.toString(),
    dataDir,
    kind: 'postgres',
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
