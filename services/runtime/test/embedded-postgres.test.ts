import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@taskmesh/runtime/embedded-postgres';

const quiet = { info: () => undefined, warn: () => undefined };
const dir = mkdtempSync(join(tmpdir(), 'taskmesh-embedded-pg-'));
const started: EmbeddedPostgres[] = [];

async function start(): Promise<EmbeddedPostgres> {
  const server = await startEmbeddedPostgres({ dataDir: dir, maxConnections: 20, log: quiet });
  started.push(server);
  return server;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

afterAll(async () => {
  for (const server of started) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('embedded PostgreSQL', { timeout: 120_000 }, () => {
  it('initialises a new directory once, then starts on the same data and stops cleanly', async () => {
    const first = await start();
    expect(first.initialised).toBe(true);
    expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    await query(first.url, 'create table kept (v text); insert into kept values ($$first$$)');
    expect((await query(first.url, 'show server_version')).rows[0].server_version).toMatch(/^18\./);
    await first.stop();
    expect(alive(first.pid)).toBe(false);

    const second = await start();
    expect(second.initialised).toBe(false);
    expect((await query(second.url, 'select v from kept')).rows).toEqual([{ v: 'first' }]);
    await second.stop();
  });

  it('starts again after its server was SIGKILLed (stale postmaster.pid, crash recovery)', async () => {
    const victim = await start();
    await query(victim.url, 'insert into kept values ($$before the crash$$)');
    process.kill(victim.pid, 'SIGKILL');
    const next = await start();
    expect((await query(next.url, 'select v from kept order by v')).rows.map((r) => r.v)).toEqual(['before the crash', 'first']);
    await next.stop();
  });

  it('stops with its Node process even when that is SIGKILLed, and starts again on the same data', async () => {
    const root = join(import.meta.dirname, '..', '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'embedded-postgres-killed.ts'), dir], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const orphanPid = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
      child.once('exit', () => reject(new Error('fixture exited before starting PostgreSQL')));
    });
    child.kill('SIGKILL');
    for (let i = 0; i < 200 && alive(orphanPid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(orphanPid)).toBe(false);
    expect(readFileSync(join(dir, 'postgres.log'), 'utf8')).toMatch(/received fast shutdown request[\s\S]*database system is shut down\s*$/);
    const next = await start();
    expect((await query(next.url, 'select count(*)::int as n from kept')).rows[0].n).toBe(2);
    await next.stop();
  });
});
