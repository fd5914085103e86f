import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restApi } from '../conformance/rest-api.ts';
import { startConformanceTarget, type ConformanceTarget } from '../conformance/target.ts';

// Hostile input over REST against the real stack (edge + services on PostgreSQL): each string rule answers
// 400 naming the field, before anything reaches the database.
let target: ConformanceTarget;
let api: ReturnType<typeof restApi>;
let token: string;
let org: string;

beforeAll(async () => {
  target = await startConformanceTarget({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' });
  api = restApi(target.baseUrl);
  const signUp = await api.post('/v1/auth:signUp', { email: `hostile-${Date.now()}@example.com`, password: 'correct horse battery', displayName: 'Hostile' });
  token = signUp.json.accessToken;
  org = (await api.post('/v1/organizations', { displayName: 'Target' }, { token })).json.organization.name;
}, 120_000);
afterAll(async () => {
  await target?.close();
});

/** The field violations of a 400's google.rpc.BadRequest detail. */
function violations(json: any): { field: string; description: string }[] {
  const bad = (json?.details ?? []).find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
  return bad?.fieldViolations ?? [];
}

describe('strings no service accepts', () => {
  it('answers NUL in a display name with 400 naming the field (the issue 11 repro)', async () => {
    const res = await api.post('/v1/organizations', { displayName: 'x\u0000y' }, { token });
    expect(res.status).toBe(400);
    expect(res.json.code).toBe(3);
    expect(violations(res.json)).toMatchObject([{ field: 'organization.display_name', description: 'must not contain NUL (U+0000) characters' }]);
    expect(res.text).not.toMatch(/0x00|invalid byte sequence|stack|at .*\.ts/);
  });

  it('answers NUL on public routes too (sign-up, password reset)', async () => {
    const signUp = await api.post('/v1/auth:signUp', { email: 'a\u0000@example.com', password: 'correct horse battery', displayName: 'n' });
    expect(signUp.status).toBe(400);
    expect(violations(signUp.json)[0]!.field).toBe('email');
    const reset = await api.post('/v1/auth:requestPasswordReset', { email: 'x@example.com\u0000' });
    expect(reset.status).toBe(400);
  });

  it('answers an unpaired surrogate escaped in JSON with 400 naming the field', async () => {
    const res = await api.post('/v1/organizations', undefined, { token, raw: '{"displayName":"a\\ud800b"}' });
    expect(res.status).toBe(400);
    expect(violations(res.json)).toMatchObject([{ field: 'organization.displayName', description: 'must be valid UTF-8 (no unpaired surrogates)' }]);
  });

  it('answers a body that is not UTF-8 with 400', async () => {
    const res = await fetch(`${target.baseUrl}/v1/organizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"displayName":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code: 3, message: 'request body is not valid UTF-8' });
  });

  it('answers an over-long value with 400 naming the limit', async () => {
    const res = await api.post('/v1/organizations', { displayName: 'a'.repeat(5_000) }, { token });
    expect(res.status).toBe(400);
    expect(violations(res.json)).toMatchObject([{ field: 'organization.display_name', description: 'must be at most 1024 bytes (UTF-8); got 5000' }]);
  });

  it('applies the same rule to query parameters and resource names', async () => {
    const search = await api.get(`/v1/${org}/tasks?query=a%00b`, { token });
    expect(search.status).toBe(400);
    expect(violations(search.json)[0]!.field).toBe('query');
    const label = await api.get(`/v1/${org}/boards/b1/tasks?label=${'l'.repeat(2_000)}`, { token });
    expect(label.status).toBe(400);
    expect(violations(label.json)[0]).toMatchObject({ field: 'label', description: expect.stringContaining('1024 bytes') });
    const name = await api.get('/v1/organizations/x%00y', { token });
    expect(name.status).toBe(400);
    expect(violations(name.json)[0]!.field).toBe('name');
    const watch = await api.get(`/v1/${org}/boards/x%00y:watch`, { token });
    expect(watch.status).toBe(400);
    expect(violations(watch.json)[0]!.field).toBe('name');
    const requestId = await api.post(`/v1/organizations?requestId=%00`, { displayName: 'ok' }, { token });
    expect(requestId.status).toBe(400);
    expect(violations(requestId.json)[0]!.field).toBe('request_id');
  });

  it('still serves valid text everywhere afterwards', async () => {
    const res = await api.post('/v1/organizations', { displayName: 'Ünïcødé 🚀' }, { token });
    expect(res.status).toBe(200);
    expect(res.json.organization.displayName).toBe('Ünïcødé 🚀');
  });
});

describe('throttled log-in over REST', () => {
  it('carries the delay as Retry-After (whole seconds) on the 429', async () => {
    const email = `throttled-${Date.now()}@example.com`;
    await api.post('/v1/auth:signUp', { email, password: 'correct horse battery', displayName: 'T' });
    let throttled: Awaited<ReturnType<typeof api.post>> | undefined;
    for (let attempt = 0; attempt < 40 && !throttled; attempt++) {
      const res = await api.post('/v1/auth:logIn', { email, password: 'wrong password!' });
      if (res.status === 429) throttled = res;
      else expect(res.status).toBe(401);
    }
    expect(throttled).toBeDefined();
    const retryAfter = throttled!.headers.get('retry-after');
    expect(retryAfter).toMatch(/^[1-9]\d*$/);
    const info = throttled!.json.details.find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.RetryInfo');
    // RetryInfo's delay is a Duration in JSON ("12s", "0.5s"); Retry-After is the same, rounded up.
    expect(Number(retryAfter)).toBe(Math.max(1, Math.ceil(parseFloat(info.retryDelay))));
  });
});
