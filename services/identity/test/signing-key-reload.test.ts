import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { identityConfigSchema } from '../src/config.ts';
import { identityService } from '../src/descriptor.ts';
import type { RunningIdentity } from '../src/server.ts';
import { loadKeyRing } from '../src/domain/key-encryption.ts';
import { SigningKeys } from '../src/db/signing-keys.ts';

// Issue 10: signing once reloaded a stale key on a second connection inside the caller's transaction. The key
// is now reloaded in the background; calls after the interval must answer (each test's timeout bounds them).
let stack: TestStack;
let running: RunningIdentity;
let client: IdentityServiceClient;
let counter = 0;
let config: ReturnType<typeof identityConfigSchema.parse>;
const email = () => `reload${++counter}-${Date.now()}@example.com`;
const PASSWORD = 'correct horse battery';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  stack = await startTestStack({ services: [identityService], overrides: { SIGNING_KEY_RELOAD_SECONDS: '1' } });
  config = identityConfigSchema.parse({ DATABASE_URL: stack.db.databaseUrl, TASKMESH_DATA_DIR: stack.db.dataDir, SIGNING_KEY_RELOAD_SECONDS: '1' });
  running = stack.get(identityService);
  client = stack.clientOf(IdentityServiceClient);
  await callUnary(client, client.signUp, { email: email(), password: PASSWORD, displayName: 'Before' });
  // Older than the reload interval, twice over.
  await sleep(2_100);
});

afterAll(async () => {
  await stack?.close();
});

describe('a signing key older than its reload interval', () => {
  it('still lets sign-up answer', { timeout: 2_000 }, async () => {
    const res = await callUnary(client, client.signUp, { email: email(), password: PASSWORD, displayName: 'After' });
    expect(res.accessToken).not.toBe('');
  });

  it('still lets log-in and refresh answer', { timeout: 2_000 }, async () => {
    const address = email();
    await callUnary(client, client.signUp, { email: address, password: PASSWORD, displayName: 'After' });
    const session = await callUnary(client, client.logIn, { email: address, password: PASSWORD, deviceToken: '' });
    const refreshed = await callUnary(client, client.refresh, { refreshToken: session.refreshToken });
    expect(refreshed.accessToken).not.toBe('');
  });

  it('still lets ten sign-ups in parallel answer', { timeout: 5_000 }, async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () => callUnary(client, client.signUp, { email: email(), password: PASSWORD, displayName: 'P' })),
    );
    expect(results.every((r) => r.accessToken !== '')).toBe(true);
  });

  it("picks up another replica's rotation in the background", { timeout: 10_000 }, async () => {
    const replica = new SigningKeys(running.db.em, loadKeyRing(config, { dataDirFallback: true }), { issuer: 'taskmesh-identity', audience: 'taskmesh', accessTokenTtlSeconds: 900 });
    const kid = await replica.rotate();
    let seen: string | undefined;
    for (let i = 0; i < 40 && seen !== kid; i++) {
      const res = await callUnary(client, client.signUp, { email: email(), password: PASSWORD, displayName: 'R' });
      seen = decodeProtectedHeader(res.accessToken).kid;
      if (seen !== kid) await sleep(200);
    }
    expect(seen).toBe(kid);
  });
});
