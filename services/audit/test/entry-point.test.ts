import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { credentials, Metadata, status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditServiceClient } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';

const root = join(import.meta.dirname, '..', '..', '..');
const natsUrl = await natsForTests();
let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

function startMain(env: Record<string, string>) {
  const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/audit/src/main.ts')], {
    cwd: root,
    env: {
      PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
      AUDIT_PORT: '0',
      // Only calls need them; nothing is dialled at start.
      IDENTITY_ADDR: '127.0.0.1:9',
      ORG_ADDR: '127.0.0.1:9',
      TASKMESH_DATA_DIR: testDb.dataDir,
      ...(testDb.databaseUrl ? { DATABASE_URL: testDb.databaseUrl } : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, exit, output: () => ({ stdout, stderr }) };
}

describe('audit entry point (src/main.ts)', () => {
  it('refuses to start alone without NATS_URL, naming the variable', async () => {
    const { exit, output } = startMain({});
    expect(await exit).not.toBe(0);
    expect(output().stderr + output().stdout).toMatch(/NATS_URL/);
  }, 60_000);

  it.skipIf(!natsUrl)('starts alone from environment config on JetStream, serves, exits cleanly on SIGTERM', async () => {
    const tag = randomBytes(4).toString('hex');
    const stream = `TEST_AUDIT_${tag.toUpperCase()}`;
    const { child, exit, output } = startMain({
      NATS_URL: natsUrl!,
      EVENTS_STREAM: stream,
      EVENTS_SUBJECT_PREFIX: `tmtest${tag}`,
      EVENTS_STREAM_MAX_BYTES: String(16 * 1024 * 1024),
    });
    try {
      const address = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${JSON.stringify(output())}`)), 60_000);
        child.stdout.on('data', () => {
          const match = /"address":"([^"]+)"[^\n]*"msg":"audit service listening"|"msg":"audit service listening"[^\n]*"address":"([^"]+)"/.exec(output().stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[1] ?? match[2]!);
          }
        });
        void exit.then((code) => reject(new Error(`exited early with ${code}: ${JSON.stringify(output())}`)));
      });
      // Served, and behind the org-context chain: a call without a token is turned away.
      const client = new AuditServiceClient(address, credentials.createInsecure());
      const call = callUnary(client, client.listAuditEvents, { parent: 'organizations/x', pageSize: 0, pageToken: '', actor: '', resource: '', eventType: '' }, { metadata: new Metadata() });
      expect(((await call.catch((err: unknown) => err)) as ServiceError).code).toBe(GrpcCode.UNAUTHENTICATED);
      client.close();

      child.kill('SIGTERM');
      expect(await exit).toBe(0);
      const lines = output().stdout.split('\n').filter(Boolean);
      expect(lines.some((l) => l.includes('"msg":"shutting down"'))).toBe(true);
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'audit' });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      const nc = await connect({ servers: natsUrl! });
      const jsm = await jetstreamManager(nc);
      for (const name of [stream, `${stream}_DLQ`]) await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    }
  }, 120_000);
});
