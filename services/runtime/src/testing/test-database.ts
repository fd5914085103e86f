import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../embedded-postgres.ts';

/**
 * Where integration tests keep their data: a fresh database of their own on the PostgreSQL at
 * TEST_DATABASE_URL (default the local server), dropped afterwards. When none answers, vitest's global set-up
 * (testPostgres below) has started an embedded PostgreSQL once for the run and pointed TEST_DATABASE_URL at
 * it; with TASKMESH_REQUIRE_POSTGRES=1 (CI) an unreachable server fails the run instead.
 */
export interface TestDatabase {
  databaseUrl: string;
  /** A temporary directory of the test's own (mail files). */
  dataDir: string;
  drop(): Promise<void>;
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The PostgreSQL the tests use: the one at TEST_DATABASE_URL (or the local default) when it answers, else an
 * embedded one in a temporary directory (stop() removes it). Sets TEST_DATABASE_URL for what runs after.
 */
export async function testPostgres(log: Pick<Console, 'info' | 'warn'> = console): Promise<{ url: string; stop(): Promise<void> }> {
  const configured = process.env.TEST_DATABASE_URL || DEFAULT_URL;
  const failure = await reachable(configured);
  if (failure === undefined) return { url: configured, stop: async () => undefined };
  if (process.env.TASKMESH_REQUIRE_POSTGRES === '1') {
    throw new Error(`TASKMESH_REQUIRE_POSTGRES=1 but PostgreSQL at ${redact(configured)} is unreachable: ${String(failure)}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'taskmesh-test-pg-'));
  const say = (level: 'info' | 'warn') => (obj: object, msg: string) => log[level](`${msg} ${JSON.stringify(obj)}`);
  let server: EmbeddedPostgres;
  try {
    server = await startEmbeddedPostgres({ dataDir: dir, maxConnections: 300, log: { info: say('info'), warn: say('warn') } });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  log.info(`PostgreSQL at ${redact(configured)} is unreachable: tests use an embedded PostgreSQL on port ${server.port}`);
  process.env.TEST_DATABASE_URL = server.url;
  return {
    url: server.url,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const redact = (url: string) => url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TEST_DATABASE_URL || DEFAULT_URL;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (err) {
    await admin.end().catch(() => undefined);
    throw new Error(`PostgreSQL at ${redact(adminUrl)} is unreachable (run the tests with vitest, whose global set-up starts one): ${String(err)}`);
  }
  const name = `taskmesh_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'taskmesh-test-'));
  return {
    databaseUrl: url.toString(),
    dataDir,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
