import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { IdentityServiceClient, IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { BadRequest } from '@taskmesh/gen/google/rpc/error_details.js';
import { InvalidArgumentError, NotFoundError, statusDetailsOf } from '../src/errors.ts';
import { callUnary } from '../src/grpc-client.ts';
import { bindService, callContext, startGrpcServer, type AsyncService, type RunningGrpcServer } from '../src/grpc-server.ts';

interface HealthClient {
  check(request: { service: string }, callback: (err: ServiceError | null, response?: { status?: string }) => void): void;
  close(): void;
}

const lines: string[] = [];
const log = pino({ level: 'error' }, new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
const notImplemented = async () => {
  throw new Error('not used');
};

function handlers(overrides: Partial<AsyncService<typeof IdentityServiceService>>): AsyncService<typeof IdentityServiceService> {
  return {
    signUp: notImplemented,
    logIn: notImplemented,
    checkPlatformAdmin: notImplemented,
    refresh: notImplemented,
    logOut: notImplemented,
    logOutEverywhere: notImplemented,
    requestPasswordReset: notImplemented,
    resetPassword: notImplemented,
    getCurrentUser: notImplemented,
    updateCurrentUser: notImplemented,
    deleteCurrentUser: notImplemented,
    getJwks: notImplemented,
    batchGetUsers: notImplemented,
    listEndedSessions: notImplemented,
    ...overrides,
  };
}

let server: RunningGrpcServer | undefined;
afterEach(async () => {
  await server?.shutdown(100);
  server = undefined;
});

async function serve(impl: Partial<AsyncService<typeof IdentityServiceService>>) {
  server = await startGrpcServer({
    port: 0,
    log,
    services: [
      {
        name: 'taskmesh.identity.v1.IdentityService',
        definition: IdentityServiceService,
        implementation: bindService(IdentityServiceService, handlers(impl), log),
      },
    ],
  });
  return new IdentityServiceClient(server.address, credentials.createInsecure());
}

async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected failure');
}

describe('gRPC server bootstrap and error model', () => {
  it('maps domain errors to canonical codes with google.rpc details', async () => {
    const client = await serve({
      signUp: async () => {
        throw new InvalidArgumentError([{ field: 'email', description: 'must be a valid e-mail address' }]);
      },
      getJwks: async () => {
        throw new NotFoundError('organizations/x');
      },
    });
    const invalid = await failure(callUnary(client, client.signUp, { email: '', password: '', displayName: '' }));
    expect(invalid.code).toBe(status.INVALID_ARGUMENT);
    const bad = statusDetailsOf(invalid)!.details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.BadRequest')!;
    expect(BadRequest.decode(bad.value).fieldViolations).toEqual([{ field: 'email', description: 'must be a valid e-mail address', reason: '', localizedMessage: undefined }]);
    expect((await failure(callUnary(client, client.getJwks, {}))).code).toBe(status.NOT_FOUND);
    client.close();
  });

  it('answers anything unexpected with INTERNAL, leaking nothing, and logs it with context', async () => {
    const client = await serve({
      getJwks: async () => {
        throw new Error('relation "secret_table" does not exist at SELECT * FROM secret_table');
      },
    });
    const md = new Metadata();
    md.set('x-request-id', 'req-123');
    const err = await failure(callUnary(client, client.getJwks, {}, { metadata: md }));
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe('internal error');
    expect(JSON.stringify(err)).not.toContain('secret_table');
    const logged = lines.find((l) => l.includes('secret_table'));
    expect(logged).toContain('req-123');
    expect(logged).toContain('/taskmesh.identity.v1.IdentityService/GetJwks');
    client.close();
  });

  it('serves grpc.health.v1 for the server as a whole and for each service', async () => {
    const client = await serve({});
    const pkg = loadPackageDefinition(protoLoader.loadSync(healthProtoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient } } };
    };
    const health = new pkg.grpc.health.v1.Health(server!.address, credentials.createInsecure());
    const check = (service: string) =>
      new Promise<string | undefined>((resolve, reject) =>
        health.check({ service }, (err, res) => (err ? reject(err) : resolve(res?.status))),
      );
    expect(await check('')).toBe('SERVING');
    expect(await check('taskmesh.identity.v1.IdentityService')).toBe('SERVING');
    health.close();
    client.close();
  });

  it('drains in-flight calls on shutdown and refuses new ones', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const client = await serve({
      getJwks: async () => {
        await gate;
        return { keys: [] };
      },
    });
    const inFlight = callUnary(client, client.getJwks, {});
    await new Promise((r) => setTimeout(r, 100));
    const stopping = server!.shutdown(5_000);
    setTimeout(release, 200);
    await expect(inFlight).resolves.toEqual({ keys: [] });
    await stopping;
    const after = await failure(callUnary(client, client.getJwks, {}, { timeoutMs: 1000 }));
    expect([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]).toContain(after.code);
    server = undefined;
    client.close();
  });

  it('aborts ctx.signal when the client cancels the call', async () => {
    let aborted!: (reason: unknown) => void;
    const sawAbort = new Promise<unknown>((r) => (aborted = r));
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const client = await serve({
      getJwks: async (_request, ctx) => {
        ctx.signal.addEventListener('abort', () => aborted(ctx.signal.reason), { once: true });
        entered();
        await sawAbort;
        return { keys: [] };
      },
    });
    const call = client.getJwks({}, () => {});
    await inHandler;
    call.cancel();
    const reason = await sawAbort;
    expect((reason as DOMException).name).toBe('AbortError');
    client.close();
  });

  it('aborts ctx.signal when the deadline passes', async () => {
    let signal: AbortSignal | undefined;
    const client = await serve({
      getJwks: async (_request, ctx) => {
        signal = ctx.signal;
        if (!signal.aborted) await new Promise((r) => signal!.addEventListener('abort', r, { once: true }));
        return { keys: [] };
      },
    });
    const err = await failure(callUnary(client, client.getJwks, {}, { timeoutMs: 200 }));
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    await new Promise<void>((r) => (signal!.aborted ? r() : signal!.addEventListener('abort', () => r(), { once: true })));
    expect(signal!.aborted).toBe(true);
    client.close();
  });

  it('gives a context first asked for its signal after the cancellation an aborted signal', () => {
    // grpc-js's server call as the context sees it: metadata, getPeer, `cancelled` set before 'cancelled' is emitted.
    const call = Object.assign(new EventEmitter(), { metadata: new Metadata(), cancelled: false, getPeer: () => 'ipv4:127.0.0.1:1' });
    const early = callContext('/x.v1.X/Early', call as never, log);
    const late = callContext('/x.v1.X/Late', call as never, log);
    const signal = early.signal;
    expect(signal.aborted).toBe(false);
    call.cancelled = true;
    call.emit('cancelled', 'cancelled');
    expect(signal.aborted).toBe(true);
    expect(late.signal.aborted).toBe(true);
    expect((late.signal.reason as DOMException).name).toBe('AbortError');
    expect((signal.reason as DOMException).name).toBe('AbortError');
    // The same signal every time it is asked for.
    expect(early.signal).toBe(signal);
    expect(late.peer).toBe('ipv4:127.0.0.1:1');
  });

  it('reports the peer address and the request id', async () => {
    const md = new Metadata();
    md.set('x-request-id', 'req-peer');
    let seen: { peer: string; requestId: string } | undefined;
    const client = await serve({
      getJwks: async (_request, ctx) => {
        seen = { peer: ctx.peer, requestId: ctx.requestId };
        return { keys: [] };
      },
    });
    await callUnary(client, client.getJwks, {}, { metadata: md });
    expect(seen!.requestId).toBe('req-peer');
    expect(seen!.peer).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);
    const generated = await callUnary(client, client.getJwks, {}).then(() => seen!.requestId);
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    client.close();
  });
});
