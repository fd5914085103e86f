import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { credentials, loadPackageDefinition, status, type ServiceError } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdentityServiceClient, IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { openDatabase, type Database } from '../src/database.ts';
import type { DatabaseTimeouts } from '../src/database-timeouts.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/embedded-postgres.ts';
import { freePort } from '../src/free-port.ts';
import { callUnary } from '../src/grpc-client.ts';
import { bindService, startGrpcServer, type AsyncService, type RunningGrpcServer } from '../src/grpc-server.ts';

// The limits of services/runtime/README.md ("No call waits forever") on a PostgreSQL of this file's own, so
// that one test can stop it and start it again on the same port.
const lines: string[] = [];
const log = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
const quiet = { info: () => undefined, warn: () => undefined };
const dir = mkdtempSync(join(tmpdir(), 'taskmesh-db-limits-'));
let port: number;
let postgres: EmbeddedPostgres;
const opened: Database[] = [];
const servers: RunningGrpcServer[] = [];

const TIMEOUTS: DatabaseTimeouts = { acquireMs: 500, statementMs: 1_000, idleInTransactionMs: 5_000, healthIntervalMs: 60_000, poolIdleMs: 10_000 };

async function open(poolMax: number, service = `limits${opened.length}`, timeouts = TIMEOUTS): Promise<Database> {
  const db = await openDatabase({ service, entities: [], migrations: [], databaseUrl: postgres.url, log, poolMax, timeouts });
  opened.push(db);
  return db;
}

/** A gRPC server whose GetJwks runs `work` on the database, so errors go through the one mapper. */
async function serve(db: Database, work: (db: Database) => Promise<unknown>): Promise<{ server: RunningGrpcServer; client: IdentityServiceClient }> {
  const handlers = {
    ...Object.fromEntries(Object.keys(IdentityServiceService).map((k) => [k, async () => ({})])),
    getJwks: async () => {
      await work(db);
      return { keys: [] };
    },
  } as unknown as AsyncService<typeof IdentityServiceService>;
  const server = await startGrpcServer({
    port: 0,
    log,
    database: db,
    services: [{ name: 'taskmesh.identity.v1.IdentityService', definition: IdentityServiceService, implementation: bindService(IdentityServiceService, handlers, log) }],
  });
  servers.push(server);
  return { server, client: new IdentityServiceClient(server.address, credentials.createInsecure()) };
}

/** Holds one pooled connection in an open transaction until the returned release is called. */
async function holdTransaction(db: Database): Promise<{ release: () => Promise<void> }> {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let begun!: () => void;
  const started = new Promise<void>((r) => (begun = r));
  const done = db.em.fork().transactional(async (em) => {
    await em.execute('select 1');
    begun();
    await gate;
  });
  await started;
  return { release: async () => (release(), await done) };
}

beforeAll(async () => {
  port = await freePort();
  postgres = await startEmbeddedPostgres({ dataDir: dir, port, maxConnections: 40, log: quiet });
});

afterAll(async () => {
  for (const server of servers) await server.shutdown(1_000);
  for (const db of opened) await db.close().catch(() => undefined);
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('no call waits forever', () => {
  it('a transaction held open on one connection does not stall calls on the others', { timeout: 10_000 }, async () => {
    const db = await open(4);
    const held = await holdTransaction(db);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => db.em.fork().execute(`select ${i} as n`)));
    expect(answers.map((rows) => (rows[0] as { n: number }).n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    await held.release();
  });

  it('answers UNAVAILABLE, with a log line, when no pooled connection frees up within the acquire timeout', { timeout: 10_000 }, async () => {
    const db = await open(1);
    const { client } = await serve(db, (d) => d.em.fork().execute('select 1'));
    const held = await holdTransaction(db);
    lines.length = 0;
    await expect(callUnary(client, client.getJwks, {})).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: 'the database is unavailable; try again',
    });
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; reason?: string; method?: string }).find((l) => l.msg === 'database unavailable');
    expect(logged?.reason).toMatch(/acquire timeout/);
    expect(logged?.method).toBe('/taskmesh.identity.v1.IdentityService/GetJwks');
    await held.release();
    await expect(callUnary(client, client.getJwks, {})).resolves.toEqual({ keys: [] });
    client.close();
  });

  it('answers DEADLINE_EXCEEDED when a statement runs past the statement timeout, without leaking SQL', { timeout: 10_000 }, async () => {
    const db = await open(2);
    const { client } = await serve(db, (d) => d.em.fork().execute('select pg_sleep(5)'));
    await expect(callUnary(client, client.getJwks, {})).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: 'the database did not answer in time',
    });
    client.close();
  });

  it('runs every session as the app role with the statement and idle-in-transaction timeouts', { timeout: 10_000 }, async () => {
    const db = await open(1);
    const rows = await db.em.fork().execute('show idle_in_transaction_session_timeout');
    expect(rows[0]).toEqual({ idle_in_transaction_session_timeout: '5s' });
    const role = await db.em.fork().execute('select current_user as role, current_setting($$statement_timeout$$) as statement_timeout');
    expect(role[0]).toEqual({ role: 'taskmesh_app', statement_timeout: '1s' });
  });

  it('closes pooled connections unused for poolIdleMs, and the next call opens one again as the app role', { timeout: 20_000 }, async () => {
    const db = await open(4, 'limits_idle', { ...TIMEOUTS, poolIdleMs: 300 });
    const { client } = await serve(db, (d) => d.em.fork().execute('select 1'));
    const backends = async () => {
      const rows = await db.em.fork().execute<{ pid: number }[]>('select pg_backend_pid() as pid');
      return rows[0]!.pid;
    };
    const first = await backends();
    const pool = (await db.em.getConnection().getNativeClient()) as { totalCount: number };
    // The server itself no longer has that backend: the pool closed it rather than only forgetting it.
    const observer = new pg.Client({ connectionString: postgres.url });
    await observer.connect();
    try {
      await vi.waitFor(
        async () => {
          expect(pool.totalCount).toBe(0);
          const alive = await observer.query('select 1 from pg_stat_activity where pid = $1', [first]);
          expect(alive.rowCount).toBe(0);
        },
        { timeout: 5_000, interval: 100 },
      );
    } finally {
      await observer.end();
    }
    await expect(callUnary(client, client.getJwks, {})).resolves.toEqual({ keys: [] });
    const role = await db.em.fork().execute('select current_user as role, pg_backend_pid() as pid');
    expect(role[0]).toMatchObject({ role: 'taskmesh_app' });
    expect((role[0] as { pid: number }).pid).not.toBe(first);
    client.close();
  });

  it('reports NOT_SERVING while the database does not answer, and SERVING once it does again', { timeout: 60_000 }, async () => {
    const db = await open(2);
    const { server, client } = await serve(db, (d) => d.em.fork().execute('select 1'));
    const pkg = loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient } } };
    };
    const health = new pkg.grpc.health.v1.Health(server.address, credentials.createInsecure());
    const check = (service: string) =>
      new Promise<string | undefined>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res?.status))));
    expect(await server.databaseHealth!.check()).toBe(true);
    expect(await check('')).toBe('SERVING');

    await postgres.stop();
    expect(await server.databaseHealth!.check()).toBe(false);
    expect(await check('')).toBe('NOT_SERVING');
    expect(await check('taskmesh.identity.v1.IdentityService')).toBe('NOT_SERVING');
    await expect(callUnary(client, client.getJwks, {})).rejects.toMatchObject({ code: status.UNAVAILABLE });

    postgres = await startEmbeddedPostgres({ dataDir: dir, port, maxConnections: 40, log: quiet });
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) ok = await server.databaseHealth!.check();
    expect(ok).toBe(true);
    expect(await check('')).toBe('SERVING');
    health.close();
    client.close();
  });
});

interface HealthClient {
  check(request: { service: string }, callback: (err: ServiceError | null, response?: { status?: string }) => void): void;
  close(): void;
}
