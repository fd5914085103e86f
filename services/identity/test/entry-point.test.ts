import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';

const root = join(import.meta.dirname, '..', '..', '..');
let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => testDb?.drop());

describe('identity entry point (src/main.ts)', () => {
  it('starts alone from environment config, serves, and exits cleanly on SIGTERM', async () => {
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/identity/src/main.ts')], {
      cwd: root,
      env: {
        PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
        IDENTITY_PORT: '0',
        TASKMESH_DATA_DIR: testDb.dataDir,
        // Standalone, the key-encryption key must come from the environment.
        TASKMESH_KEK: randomBytes(32).toString('base64'),
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
          if (parsed.msg === 'identity service listening' && parsed.address) {
            clearTimeout(timer);
            resolve(parsed.address);
          }
        }
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}; stderr: ${stderr}`)));
    });
    const client = new IdentityServiceClient(address, credentials.createInsecure());
    const jwks = await callUnary(client, client.getJwks, {});
    expect(jwks.keys.length).toBeGreaterThan(0);
    client.close();

    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exit).toBe(0);
    expect(lines.some((l) => l.includes('"msg":"shutting down"'))).toBe(true);
    // Every line is structured JSON carrying the service name.
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: 'identity' });
  });

  it('refuses to start without DATABASE_URL, naming it', async () => {
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/identity/src/main.ts')], {
      cwd: root,
      env: {
        PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`,
        IDENTITY_PORT: '0',
        TASKMESH_DATA_DIR: testDb.dataDir,
        TASKMESH_KEK: randomBytes(32).toString('base64'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain('DATABASE_URL: required');
  });
});
