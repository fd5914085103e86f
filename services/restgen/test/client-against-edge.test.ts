// The generated client against the real thing: the TypeScript REST edge in front of the identity
// service (embedded stack on the tests' PostgreSQL), the flow the README shows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVERY_PORT_FREE, startStack, type RunningStack } from '../../embedded/src/stack.ts';
import { ApiError, Code, createClient } from '../../../gen/client/index.ts';

let stack: RunningStack;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'restgen-e2e-'));
  stack = await startStack({ ...EVERY_PORT_FREE, EDGE_HOST: '127.0.0.1', EDGE_ACCESS_LOG: 'off', TASKMESH_DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  await stack?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('generated client against the REST edge and identity', () => {
  it('signs up, calls authenticated methods with the token, and maps refusals to ApiError', async () => {
    let accessToken: string | undefined;
    const taskmesh = createClient({ baseUrl: stack.url, getToken: () => accessToken });
    const email = `ada-${Date.now()}@example.com`;

    const session = await taskmesh.identity.signUp({ email, password: 'correct horse battery staple', displayName: 'Ada' });
    expect(session.user?.email).toBe(email);
    expect(typeof session.expiresIn).toBe('number');
    accessToken = session.accessToken;

    const me = await taskmesh.identity.getCurrentUser();
    expect(me.user?.name).toBe(session.user?.name);
    expect(me.user?.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    const renamed = await taskmesh.identity.updateCurrentUser({ user: { displayName: 'Ada L.' }, updateMask: 'displayName' });
    expect(renamed.user?.displayName).toBe('Ada L.');

    const jwks = await taskmesh.identity.getJwks();
    expect(jwks.keys.map((k) => k.kty)).toContain('OKP');

    const wrong = (await taskmesh.identity.logIn({ email, password: 'not the password' }).catch((e: unknown) => e)) as ApiError;
    expect(wrong).toBeInstanceOf(ApiError);
    expect([wrong.code, wrong.httpStatus]).toEqual([Code.UNAUTHENTICATED, 401]);

    accessToken = undefined;
    const anonymous = (await taskmesh.identity.getCurrentUser().catch((e: unknown) => e)) as ApiError;
    expect(anonymous).toBeInstanceOf(ApiError);
    expect([anonymous.codeName, anonymous.httpStatus]).toEqual(['UNAUTHENTICATED', 401]);

    const invalid = (await taskmesh.identity.signUp({ email: 'not-an-address', password: 'x' }).catch((e: unknown) => e)) as ApiError;
    expect(invalid).toBeInstanceOf(ApiError);
    expect([invalid.codeName, invalid.httpStatus]).toEqual(['INVALID_ARGUMENT', 400]);
    expect(invalid.details.length).toBeGreaterThan(0);
  });
});
