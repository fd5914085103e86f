import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { credentials, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';

const root = join(import.meta.dirname, '..', '..', '..');
let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

function startMain(env: Record<string, string>) {
  return spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/board/src/main.ts')], {
    cwd: root,
    env: { PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('board entry point (src/main.ts)', () => {
  it('starts alone from environment config, serves, and exits cleanly on SIGTERM', async () => {
    // identity, org and task are dialled lazily: the service starts without them.
    const child = startMain({
      BOARD_PORT: '0',
      IDENTITY_ADDR: '127.0.0.1:1',
      ORG_ADDR: '127.0.0.1:1',
      TASK_ADDR: '127.0.0.1:1',
      TASKMESH_DATA_DIR: testDb.dataDir,
      ...(testDb.databaseUrl ? { DATABASE_URL: testDb.databaseUrl } : {}),
    });
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const address = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk) => {
        for (const line of String(chunk).split('\n').filter(Boolean)) {
          lines.push(line);
          const parsed = JSON.parse(line) as { msg?: string; address?: string };
          if (parsed.msg === 'board service listening' && parsed.address) resolve(parsed.address);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}; stderr: ${stderr}`)));
    });
    const client = new BoardServiceClient(address, credentials.createInsecure());
    const missing = await callUnary(client, client.checkBoardList, { name: `organizations/${randomUUID()}/boards/${randomUUID()}`, list: '' }).catch(
      (err: { code: number }) => err.code,
    );
    expect(missing).toBe(status.NOT_FOUND);
    client.close();

    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(lines.some((l) => l.includes('"msg":"shutting down"'))).toBe(true);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'board' });
  });

  it('refuses to start without the addresses it needs, naming them', async () => {
    const child = startMain({ BOARD_PORT: '0', TASKMESH_DATA_DIR: testDb.dataDir });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    for (const name of ['IDENTITY_ADDR', 'ORG_ADDR', 'TASK_ADDR']) expect(output).toContain(name);
  });
});
