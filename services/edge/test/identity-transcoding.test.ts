import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import type { IdentityServiceServer } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { Status } from '@taskmesh/gen/google/rpc/status.js';
import { BadRequest } from '@taskmesh/gen/google/rpc/error_details.js';
import { startEdge } from '../src/edge.ts';
import type { Edge } from '../src/edge.ts';

// The edge in front of a grpc-js server implementing the generated IdentityService stubs (test
// behaviour, not the real identity service): the descriptor in gen/ drives every route.

const user = {
  name: 'users/u1',
  email: 'ada@example.com',
  displayName: 'Ada',
  createTime: new Date('2026-01-02T03:04:05.678Z'),
  updateTime: new Date('2026-01-02T03:04:05.678Z'),
};
const seen: { method: string; metadata: grpc.Metadata; request: unknown }[] = [];

function unauthenticated(): grpc.ServiceError {
  return Object.assign(new Error('missing or invalid access token'), { code: grpc.status.UNAUTHENTICATED, details: 'missing or invalid access token', metadata: new grpc.Metadata() });
}

const implementation: Partial<IdentityServiceServer> = {
  signUp(call, callback) {
    seen.push({ method: 'signUp', metadata: call.metadata, request: call.request });
    if (!call.request.email.includes('@')) {
      const metadata = new grpc.Metadata();
      const details = BadRequest.encode({ fieldViolations: [{ field: 'email', description: 'not an e-mail address', reason: '', localizedMessage: undefined }] }).finish();
      const status = Status.encode({ code: grpc.status.INVALID_ARGUMENT, message: 'invalid sign-up', details: [{ typeUrl: 'type.googleapis.com/google.rpc.BadRequest', value: Buffer.from(details) }] }).finish();
      metadata.set('grpc-status-details-bin', Buffer.from(status));
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'invalid sign-up', metadata });
      return;
    }
    callback(null, { user: { ...user, email: call.request.email, displayName: call.request.displayName }, accessToken: 'access', refreshToken: 'refresh', expiresIn: 900, deviceToken: '' });
  },
  logIn(call, callback) {
    seen.push({ method: 'logIn', metadata: call.metadata, request: call.request });
    callback({ code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many attempts' });
  },
  getCurrentUser(call, callback) {
    seen.push({ method: 'getCurrentUser', metadata: call.metadata, request: call.request });
    if (call.metadata.get('authorization')[0] !== 'Bearer good') return callback(unauthenticated());
    callback(null, { user });
  },
  updateCurrentUser(call, callback) {
    seen.push({ method: 'updateCurrentUser', metadata: call.metadata, request: call.request });
    callback(null, { user: { ...user, displayName: call.request.user?.displayName ?? '' } });
  },
  getJwks(_call, callback) {
    callback(null, { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc', kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
  },
};

let server: grpc.Server;
let health: HealthImplementation;
let edge: Edge;

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(IdentityServiceService, implementation as IdentityServiceServer);
  health = new HealthImplementation({ '': 'SERVING' });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  edge = await startEdge({ port: 0, upstreams: { 'taskmesh.identity.v1.IdentityService': `127.0.0.1:${port}` }, accessLog: false });
});

afterAll(async () => {
  await edge?.close();
  await new Promise<void>((resolve) => server?.tryShutdown(() => resolve()));
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(edge.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, headers: response.headers, json: (await response.json()) as any };
}

describe('identity API through the edge', () => {
  it('signs up with lowerCamelCase in and out, timestamps as RFC 3339', async () => {
    const r = await call('POST', '/v1/auth:signUp', { email: 'ada@example.com', password: 'correct horse', display_name: 'Ada L' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      user: { name: 'users/u1', email: 'ada@example.com', displayName: 'Ada L', createTime: '2026-01-02T03:04:05.678Z', updateTime: '2026-01-02T03:04:05.678Z' },
      accessToken: 'access',
      refreshToken: 'refresh',
      expiresIn: 900,
      deviceToken: '',
    });
    expect(seen.at(-1)!.request).toMatchObject({ email: 'ada@example.com', password: 'correct horse', displayName: 'Ada L' });
  });

  it('turns a validation failure into 400 with BadRequest details', async () => {
    const r = await call('POST', '/v1/auth:signUp', { email: 'nope', password: 'x' });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      code: 3,
      message: 'invalid sign-up',
      details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'email', description: 'not an e-mail address', reason: '' }] }],
    });
  });

  it('forwards the authorization header and maps UNAUTHENTICATED to 401', async () => {
    expect((await call('GET', '/v1/users/me', undefined, { authorization: 'Bearer good' })).json.user.name).toBe('users/u1');
    const denied = await call('GET', '/v1/users/me', undefined, { authorization: 'Bearer bad' });
    expect(denied.status).toBe(401);
    expect(denied.json).toEqual({ code: 16, message: 'missing or invalid access token', details: [] });
  });

  it('updates the profile with an update mask from the query', async () => {
    const r = await call('PATCH', '/v1/users/me?updateMask=displayName', { displayName: 'Countess' }, { authorization: 'Bearer good' });
    expect(r.status).toBe(200);
    expect(r.json.user.displayName).toBe('Countess');
    // The FieldMask's JSON names arrive as proto field paths.
    expect(seen.at(-1)!.request).toMatchObject({ updateMask: ['display_name'] });
  });

  it('serves the JWKS as a JSON Web Key Set', async () => {
    const r = await call('GET', '/v1/jwks');
    expect(r.json).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'abc', kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
  });

  it('sends log-in the client address as the rightmost x-forwarded-for entry', async () => {
    const r = await call('POST', '/v1/auth:logIn', { email: 'a@b.c', password: 'p' }, { 'x-forwarded-for': '198.51.100.1' });
    expect(r.status).toBe(429);
    const forwarded = seen.at(-1)!.metadata.get('x-forwarded-for')[0] as string;
    expect(forwarded.split(',').map((s) => s.trim())).toEqual(['198.51.100.1', '127.0.0.1']);
  });

  it('answers 503 for services of the descriptor that have no upstream here', async () => {
    const r = await call('GET', '/v1/organizations');
    expect(r.status).toBe(503);
    expect(r.json.code).toBe(14);
  });

  it('is healthy only while the upstream reports SERVING', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    health.setStatus('', 'NOT_SERVING');
    try {
      expect((await call('GET', '/healthz')).status).toBe(503);
    } finally {
      health.setStatus('', 'SERVING');
    }
  });
});

describe('documentation mounted on the edge', () => {
  it('serves /openapi.json and /docs next to the API', async () => {
    const document = await fetch(`${edge.url}/openapi.json`);
    expect(document.status).toBe(200);
    const body = (await document.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(body.openapi).toMatch(/^3\.1/);
    expect(Object.keys(body.paths)).toContain('/v1/auth:signUp');
    const page = await fetch(`${edge.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });
});
