import { Client, credentials, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BadRequest } from '@taskmesh/gen/google/rpc/error_details.js';
import { SignUpRequest, IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { CreateOrganizationRequest } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { CreateTaskRequest } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { statusDetailsOf } from '../src/errors.ts';
import { bindService, startGrpcServer, type AsyncService, type RunningGrpcServer } from '../src/grpc-server.ts';
import { compileRequestStringChecks, DEFAULT_STRING_LIMIT_BYTES, readDescriptorSet, STRING_LIMIT_BYTES } from '../src/request-strings.ts';

const checks = compileRequestStringChecks(readDescriptorSet());
const check = (path: string, bytes: Uint8Array) => checks.get(path)!(bytes);
const createOrganization = '/taskmesh.org.v1.OrgService/CreateOrganization';
const orgRequest = (displayName: string, requestId = '') => CreateOrganizationRequest.encode({ organization: { displayName } as never, requestId }).finish();

/** A string field's bytes spliced in by hand, as a client that does not encode through TextEncoder can send them. */
function rawStringField(fieldNumber: number, value: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(fieldNumber << 3) | 2, value.length]), value]);
}

describe('request string checks from the descriptor set', () => {
  it('accepts ordinary text, emoji and empty strings', () => {
    expect(check(createOrganization, orgRequest('Ünïcødé 🚀 team', '9b3c0f0e-1d2a-4c8e-9a77-0a0b0c0d0e0f'))).toBeUndefined();
    expect(check(createOrganization, orgRequest(''))).toBeUndefined();
  });

  it('names a nested field holding NUL', () => {
    expect(check(createOrganization, orgRequest('x\u0000y'))).toEqual([{ field: 'organization.display_name', description: 'must not contain NUL (U+0000) characters' }]);
  });

  it('refuses invalid UTF-8 and an encoded unpaired surrogate', () => {
    const loneSurrogate = Buffer.from([0x61, 0xed, 0xa0, 0x80]); // U+D800 as three bytes (CESU-8)
    const invalid = Buffer.from([0x61, 0xff, 0x62]);
    for (const bytes of [loneSurrogate, invalid]) {
      expect(check('/taskmesh.identity.v1.IdentityService/SignUp', rawStringField(3, bytes))).toEqual([
        { field: 'display_name', description: 'must be valid UTF-8 (no unpaired surrogates)' },
      ]);
    }
  });

  it('applies per-field byte limits, naming the limit and repeated elements by index', () => {
    const atLimit = 'a'.repeat(DEFAULT_STRING_LIMIT_BYTES);
    expect(check(createOrganization, orgRequest(atLimit))).toBeUndefined();
    expect(check(createOrganization, orgRequest(`${atLimit}a`))).toEqual([
      { field: 'organization.display_name', description: `must be at most ${DEFAULT_STRING_LIMIT_BYTES} bytes (UTF-8); got ${DEFAULT_STRING_LIMIT_BYTES + 1}` },
    ]);
    const description = 'd'.repeat(STRING_LIMIT_BYTES.description!);
    const task = CreateTaskRequest.encode(CreateTaskRequest.fromPartial({ task: { title: 't', description, labels: ['ok', 'b\u0000d'] } })).finish();
    expect(check('/taskmesh.task.v1.TaskService/CreateTask', task)).toEqual([{ field: 'task.labels[1]', description: 'must not contain NUL (U+0000) characters' }]);
  });

  it('leaves malformed wire bytes to the decoder', () => {
    expect(check(createOrganization, Buffer.from([0x0a, 0x7f, 0x01]))).toBeUndefined();
  });
});

describe('the gRPC server path', () => {
  let server: RunningGrpcServer;
  let client: Client;
  let handled = 0;
  const log = pino({ level: 'silent' });

  beforeAll(async () => {
    const signUp = async () => {
      handled += 1;
      throw new Error('the handler must not run');
    };
    const handlers = new Proxy({}, { get: () => signUp }) as AsyncService<typeof IdentityServiceService>;
    server = await startGrpcServer({
      port: 0,
      log,
      services: [{ name: 'taskmesh.identity.v1.IdentityService', definition: IdentityServiceService, implementation: bindService(IdentityServiceService, handlers, log) }],
    });
    client = new Client(server.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await server.shutdown(100);
  });

  const call = (bytes: Buffer) =>
    new Promise<ServiceError>((resolve, reject) =>
      client.makeUnaryRequest(
        '/taskmesh.identity.v1.IdentityService/SignUp',
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        (err) => (err ? resolve(err) : reject(new Error('expected a failure'))),
      ),
    );

  it('answers INVALID_ARGUMENT with a BadRequest naming the field before any handler runs', async () => {
    for (const bytes of [
      Buffer.from(SignUpRequest.encode({ email: 'a@example.com', password: 'long enough pw', displayName: 'x\u0000y' }).finish()),
      Buffer.concat([rawStringField(1, Buffer.from('a@example.com')), rawStringField(3, Buffer.from([0xed, 0xb0, 0x80]))]),
      Buffer.from(SignUpRequest.encode({ email: 'a@example.com', password: 'p'.repeat(5_000), displayName: '' }).finish()),
    ]) {
      const err = await call(bytes);
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      const detail = statusDetailsOf(err)!.details.find((d) => d.typeUrl === 'type.googleapis.com/google.rpc.BadRequest')!;
      const [violation] = BadRequest.decode(detail.value).fieldViolations;
      expect(['display_name', 'password']).toContain(violation!.field);
    }
    expect(handled).toBe(0);
  });
});
