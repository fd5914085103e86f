// The generated client against the real thing: the TypeScript REST edge in front of the identity
// service (embedded stack on the tests' PostgreSQL), the flow the README shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { ApiError, Code, createClient } from '../../../gen/client/index.ts';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ services: ALL_SERVICES, front: edgeFront });
});

afterAll(async () => {
  await stack?.close();
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
