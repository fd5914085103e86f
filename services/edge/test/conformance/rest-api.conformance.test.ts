import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectHttpBindings, loadDescriptorSet } from '../../src/http-bindings.ts';
import { defaultDescriptorPath } from '../../src/edge.ts';
import { errorOf, restApi, uniqueEmail } from './rest-api.ts';
import type { RestApi } from './rest-api.ts';
import { startConformanceTarget } from './target.ts';
import type { ConformanceTarget } from './target.ts';

// The REST API as API.md promises it, over plain HTTP. Point it at any edge with
// TASKMESH_BASE_URL=http://host:port (TASKMESH_EDGE_KIND=envoy for Envoy); unset, it starts the
// embedded stack itself. Cases for org, board, task and audit (pagination, update masks on resources,
// WatchBoard streaming) belong in sibling files here as those services land; the edge-level rules
// they rely on are covered by ../transcoding-rules.test.ts.

const envoyTarget = process.env.TASKMESH_EDGE_KIND === 'envoy';
let target: ConformanceTarget;
let api: RestApi;

beforeAll(async () => {
  target = await startConformanceTarget();
  api = restApi(target.baseUrl);
});

afterAll(async () => {
  await target?.close();
});

async function signUp(label: string, password = 'correct horse battery') {
  const email = uniqueEmail(label);
  const response = await api.post('/v1/auth:signUp', { email, password, displayName: `${label} tester` });
  expect(response.status, response.text).toBe(200);
  return { email, password, ...(response.json as { user: { name: string }; accessToken: string; refreshToken: string; expiresIn: number }) };
}

describe('edge behaviour', () => {
  it('answers an unbound path with 404 and a google.rpc.Status body', async () => {
    const response = await api.get('/v1/no/such/thing');
    expect(response.status).toBe(404);
    expect(errorOf(response).code).toBe(5);
  });

  it('echoes the client request id and generates one when absent', async () => {
    const given = await api.get('/v1/jwks', { headers: { 'x-request-id': 'conformance-req-1' } });
    expect(given.headers.get('x-request-id')).toBe('conformance-req-1');
    const generated = await api.get('/v1/jwks');
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects malformed JSON with 400 INVALID_ARGUMENT', async () => {
    const response = await api.post('/v1/auth:logIn', undefined, { raw: '{"email": "a@b.c",' });
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe(3);
  });

  it('rejects an unknown query parameter with 400', async () => {
    const response = await api.get('/v1/jwks?colour=blue');
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe(3);
  });

  it('rejects a body over 1 MiB with 413', async () => {
    const response = await api.post('/v1/auth:logIn', { email: 'big@conformance.example', password: 'x'.repeat(1024 * 1024 + 1) });
    expect(response.status).toBe(413);
  });

  it.skipIf(envoyTarget)('rejects a body that is not JSON with 415 (services/edge only: Envoy does not check)', async () => {
    const response = await api.post('/v1/auth:logIn', undefined, { raw: 'email=a@b.c', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(response.status).toBe(415);
    expect(errorOf(response).code).toBe(3);
  });

  it('routes every google.api.http binding of the descriptor set to a service', async () => {
    const bindings = collectHttpBindings(loadDescriptorSet(process.env.TASKMESH_DESCRIPTOR ?? defaultDescriptorPath));
    for (const binding of bindings) {
      const path = samplePath(binding.template.source);
      const response = await api.send(binding.httpMethod, path, binding.body === undefined ? undefined : {});
      // A missing route is 404 (no method bound) or 405/501; anything else came from the service or its auth.
      // A public read of an unknown share code is the service's own 404, which carries an ErrorInfo.
      const fromService = response.status === 404 && errorOf(response).details.some((d) => d['@type']?.endsWith('google.rpc.ErrorInfo'));
      if (fromService) continue;
      expect([404, 405, 501], `${binding.httpMethod} ${path} → ${response.status} ${response.text}`).not.toContain(response.status);
    }
  });

  it('reports health on GET /healthz', async () => {
    const response = await api.get('/healthz');
    expect(response.status).toBe(200);
  });
});

describe('identity API', () => {
  it('signs up: lowerCamelCase JSON, every field printed, RFC 3339 timestamps', async () => {
    const email = uniqueEmail('shape');
    const response = await api.post('/v1/auth:signUp', { email, password: 'correct horse battery', display_name: 'Shape Tester' });
    expect(response.status, response.text).toBe(200);
    const body = response.json;
    expect(Object.keys(body).sort()).toEqual(['accessToken', 'deviceToken', 'expiresIn', 'refreshToken', 'user']);
    expect(Object.keys(body.user).sort()).toEqual(['createTime', 'displayName', 'email', 'name', 'updateTime']);
    expect(body.user).toMatchObject({ email, displayName: 'Shape Tester' });
    expect(body.user.name).toMatch(/^users\/[A-Za-z0-9_-]+$/);
    expect(body.user.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    expect(typeof body.expiresIn).toBe('number');
    expect(body.accessToken.split('.')).toHaveLength(3);
  });

  it('refuses a second account for the same e-mail with 409 ALREADY_EXISTS and ErrorInfo', async () => {
    const { email } = await signUp('dup');
    const response = await api.post('/v1/auth:signUp', { email: email.toUpperCase(), password: 'another good password' });
    expect(response.status).toBe(409);
    const error = errorOf(response);
    expect(error.code).toBe(6);
    expect(error.details).toContainEqual(expect.objectContaining({ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EMAIL_TAKEN' }));
  });

  it('refuses an invalid sign-up with 400 and BadRequest field violations', async () => {
    const response = await api.post('/v1/auth:signUp', { email: 'not-an-address', password: 'short' });
    expect(response.status).toBe(400);
    const error = errorOf(response);
    expect(error.code).toBe(3);
    const badRequest = error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
    expect(badRequest.fieldViolations.map((v: { field: string }) => v.field)).toEqual(expect.arrayContaining(['email', 'password']));
  });

  it('logs in with the right password only (401 UNAUTHENTICATED otherwise)', async () => {
    const { email, password, user } = await signUp('login');
    const wrong = await api.post('/v1/auth:logIn', { email, password: 'wrong password here' });
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong).code).toBe(16);
    const right = await api.post('/v1/auth:logIn', { email, password });
    expect(right.status).toBe(200);
    expect(right.json.user.name).toBe(user.name);
    expect(right.json.refreshToken).not.toBe('');
  });

  it('needs a bearer token for /v1/users/me', async () => {
    const { accessToken, user } = await signUp('me');
    const anonymous = await api.get('/v1/users/me');
    expect(anonymous.status).toBe(401);
    expect(errorOf(anonymous).code).toBe(16);
    const garbage = await api.get('/v1/users/me', { token: 'not.a.jwt' });
    expect(garbage.status).toBe(401);
    const me = await api.get('/v1/users/me', { token: accessToken });
    expect(me.status).toBe(200);
    expect(me.json.user.name).toBe(user.name);
  });

  it('updates the profile through PATCH with an update mask', async () => {
    const { accessToken } = await signUp('patch');
    const updated = await api.patch('/v1/users/me?updateMask=displayName', { displayName: 'Renamed Person' }, { token: accessToken });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json.user.displayName).toBe('Renamed Person');
    expect((await api.get('/v1/users/me', { token: accessToken })).json.user.displayName).toBe('Renamed Person');
  });

  it('rotates refresh tokens and revokes the session when a spent one is presented again', async () => {
    const { refreshToken } = await signUp('refresh');
    const first = await api.post('/v1/auth:refresh', { refreshToken });
    expect(first.status).toBe(200);
    expect(first.json.refreshToken).not.toBe(refreshToken);
    const reuse = await api.post('/v1/auth:refresh', { refreshToken });
    expect(reuse.status).toBe(401);
    expect(errorOf(reuse).code).toBe(16);
    // Reuse detection ended the whole session, so the token issued in between is dead too.
    const after = await api.post('/v1/auth:refresh', { refreshToken: first.json.refreshToken });
    expect(after.status).toBe(401);
  });

  it('logs out: {} and the refresh token stops working', async () => {
    const { refreshToken } = await signUp('logout');
    const out = await api.post('/v1/auth:logOut', { refreshToken });
    expect(out.status).toBe(200);
    expect(out.json).toEqual({});
    expect((await api.post('/v1/auth:refresh', { refreshToken })).status).toBe(401);
  });

  it('logs out everywhere: {} for the signed-in caller, then every session of theirs is over', async () => {
    const first = await signUp('everywhere');
    const second = await api.post('/v1/auth:logIn', { email: first.email, password: 'correct horse battery' });
    expect(second.status, second.text).toBe(200);
    expect((await api.post('/v1/auth:logOutEverywhere', {})).status).toBe(401);
    const out = await api.post('/v1/auth:logOutEverywhere', {}, { token: second.json.accessToken });
    expect(out.status, out.text).toBe(200);
    expect(out.json).toEqual({});
    expect((await api.post('/v1/auth:refresh', { refreshToken: first.refreshToken })).status).toBe(401);
    expect((await api.post('/v1/auth:refresh', { refreshToken: second.json.refreshToken })).status).toBe(401);
    expect((await api.get('/v1/users/me', { token: first.accessToken })).status).toBe(401);
  });

  it('answers a password reset request with {} whether or not the account exists', async () => {
    const { email } = await signUp('reset');
    for (const address of [email, uniqueEmail('nobody')]) {
      const response = await api.post('/v1/auth:requestPasswordReset', { email: address });
      expect(response.status).toBe(200);
      expect(response.json).toEqual({});
    }
  });

  it('publishes the signing keys as a JSON Web Key Set without private parts', async () => {
    const response = await api.get('/v1/jwks');
    expect(response.status).toBe(200);
    expect(response.json.keys.length).toBeGreaterThan(0);
    for (const key of response.json.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key.kid).not.toBe('');
      expect(key).not.toHaveProperty('d');
    }
  });

  it('throttles repeated failed log-ins with 429 RESOURCE_EXHAUSTED', async () => {
    const { email } = await signUp('throttle');
    let last = 0;
    // One (account, address) pair gets a few free failures (5 by default), then waits; stop at the first 429.
    for (let attempt = 0; attempt < 12 && last !== 429; attempt++) {
      const response = await api.post('/v1/auth:logIn', { email, password: 'definitely wrong' });
      last = response.status;
      if (last === 429) {
        expect(errorOf(response).code).toBe(8);
        expect(JSON.stringify(errorOf(response).details)).toContain('google.rpc.RetryInfo');
      }
      else expect(last).toBe(401);
    }
    expect(last).toBe(429);
  });
});

/** A concrete URL for a template: each variable segment becomes a sample id. */
function samplePath(template: string): string {
  return template.replace(/\{[^}=]+(?:=([^}]*))?\}/g, (_m, pattern: string | undefined) => (pattern ?? '*').replace(/\*\*?/g, 'sample'));
}
