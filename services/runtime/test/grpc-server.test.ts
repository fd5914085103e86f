import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import * as protoLoader from '@grpc/proto-loader';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { IdentityServiceClient, IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { BadRequest } from '@taskmesh/gen/google/rpc/error_details.js';
import { InvalidArgumentError, NotFoundError, statusDetailsOf } from '../src/errors.ts';
import { callUnary } from '../src/grpc-client.ts';
import { bindService, startGrpcServer, type AsyncService, type RunningGrpcServer } from '../src/grpc-server.ts';

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
    refresh: notImplemented,
    logOut: notImplemented,
    requestPasswordReset: notImplemented,
    resetPassword: notImplemented,
    getCurrentUser: notImplemented,
    updateCurrentUser: notImplemented,
    getJwks: notImplemented,
    batchGetUsers: notImplemented,
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
});
