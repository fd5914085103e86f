import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';

const root = join(import.meta.dirname, '..', '..', '..');
let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

describe('task entry point (src/main.ts)', () => {
  it('starts alone from environment config, serves, and exits cleanly on SIGTERM', async () => {
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/task/src/main.ts')], {
      cwd: root,
      env: {
        PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
        TASK_PORT: '0',
        // Upstreams are dialled lazily: the service starts without them.
        IDENTITY_ADDR: '127.0.0.1:1',
        ORG_ADDR: '127.0.0.1:1',
        BOARD_ADDR: '127.0.0.1:1',
        TASKMESH_DATA_DIR: testDb.dataDir,
        ...(testDb.databaseUrl ? { DATABASE_URL: testDb.databaseUrl } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 60_000);
      child.stdout.on('data', (chunk) => {
        for (const line of String(chunk).split('\n').filter(Boolean)) {
          lines.push(line);
          const parsed = JSON.parse(line) as { msg?: string; address?: string };
          if (parsed.msg === 'task service listening' && parsed.address) {
            clearTimeout(timer);
            resolve(parsed.address);
          }
        }
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}; stderr: ${stderr}`)));
    });
    const client = new TaskServiceClient(address, credentials.createInsecure());
    const err = await callUnary(client, client.getTask, { name: 'organizations/x/boards/y/tasks/z' }).catch((e: unknown) => e as ServiceError);
    expect((err as ServiceError).code).toBe(status.UNAUTHENTICATED);
    client.close();

    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(lines.some((l) => l.includes('"msg":"shutting down"'))).toBe(true);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'task' });
  });
});
