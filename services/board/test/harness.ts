import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { BadRequest, ErrorInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import {
  CreateInvitationRequest,
  CreateOrganizationRequest,
  OrgServiceClient,
} from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { statusDetailsOf } from '@taskmesh/runtime/errors';
import type { EventBus } from '@taskmesh/runtime/events/event-bus';
import { createInProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import type { Mailer } from '@taskmesh/runtime/mail';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
// Tests only: the real identity and org services beside the board service, each with its own schema.
import { identityConfigSchema } from '../../identity/src/config.ts';
import { startIdentity, type RunningIdentity } from '../../identity/src/server.ts';
import { orgConfigSchema } from '../../org/src/config.ts';
import { startOrg, type RunningOrg } from '../../org/src/server.ts';
import { taskConfigSchema } from '../../task/src/config.ts';
import { startTask, type RunningTask } from '../../task/src/server.ts';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { boardConfigSchema } from '../src/config.ts';
import { startBoard, type RunningBoard } from '../src/server.ts';
import { freePort } from '@taskmesh/runtime/testing/ports';

export interface Harness {
  db: TestDatabase;
  identity: RunningIdentity;
  org: RunningOrg;
  board: RunningBoard;
  /** Only with startHarness({ withTask: true }). */
  task: RunningTask | undefined;
  taskClient: TaskServiceClient | undefined;
  bus: EventBus;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  client: BoardServiceClient;
  close(): Promise<void>;
}


/**
 * identity + org + board on port 0 with one in-process event bus, and the task service when asked. Without it,
 * TASK_ADDR points at a closed port, so DeleteList without force meets an unreachable task service.
 */
export async function startHarness(options: { withTask?: boolean; bus?: EventBus } = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const common = { DATABASE_URL: db.databaseUrl, TASKMESH_DATA_DIR: db.dataDir };
  const identity = await startIdentity({
    config: identityConfigSchema.parse({ ...common, IDENTITY_PORT: '0', ARGON2_MEMORY_KIB: '1024', ARGON2_ITERATIONS: '1', SIGNUP_MAX_PER_ADDRESS: '100000' }),
    log,
  });
  const mailer: Mailer = { async send() {}, close() {} };
  const org = await startOrg({
    config: orgConfigSchema.parse({ ...common, ORG_PORT: '0', IDENTITY_ADDR: identity.grpc.address }),
    log,
    mailer,
  });
  const bus = options.bus ?? createInProcessBus({ log });
  const taskAddress = options.withTask ? `127.0.0.1:${await freePort()}` : '127.0.0.1:1';
  const board = await startBoard({
    config: boardConfigSchema.parse({
      ...common,
      BOARD_PORT: '0',
      IDENTITY_ADDR: identity.grpc.address,
      ORG_ADDR: org.grpc.address,
      TASK_ADDR: taskAddress,
      UPSTREAM_TIMEOUT_MS: '2000',
      // Role changes made by a test must show at once.
      MEMBERSHIP_CACHE_TTL_MS: '0',
    }),
    log,
    bus,
  });
  const task = options.withTask
    ? await startTask({
        config: taskConfigSchema.parse({
          ...common,
          TASK_PORT: taskAddress.split(':')[1],
          IDENTITY_ADDR: identity.grpc.address,
          ORG_ADDR: org.grpc.address,
          BOARD_ADDR: board.grpc.address,
          MEMBERSHIP_CACHE_TTL_MS: '0',
        }),
        log,
        bus,
      })
    : undefined;
  bus.start();
  const taskClient = task ? new TaskServiceClient(task.grpc.address, credentials.createInsecure()) : undefined;
  const identityClient = new IdentityServiceClient(identity.grpc.address, credentials.createInsecure());
  const orgClient = new OrgServiceClient(org.grpc.address, credentials.createInsecure());
  const client = new BoardServiceClient(board.grpc.address, credentials.createInsecure());
  return {
    db,
    identity,
    org,
    board,
    task,
    taskClient,
    bus,
    identityClient,
    orgClient,
    client,
    async close() {
      client.close();
      taskClient?.close();
      orgClient.close();
      identityClient.close();
      await task?.close();
      await board.close();
      await bus.close();
      await org.close();
      await identity.close();
      await db.drop();
    },
  };
}

export interface TestUser {
  id: string;
  email: string;
  auth: Metadata;
}

let counter = 0;
export async function signUp(h: Harness, label = 'user'): Promise<TestUser> {
  const email = `${label}-${++counter}-${process.pid}-${Date.now()}@example.com`;
  const res = await callUnary(h.identityClient, h.identityClient.signUp, {
    email,
    password: 'correct horse battery',
    displayName: `${label} ${counter}`,
  });
  const auth = new Metadata();
  auth.set('authorization', `Bearer ${res.accessToken}`);
  return { id: res.user!.name.slice('users/'.length), email, auth };
}

/** An organization owned by `owner`, through the real org service. */
export async function createOrg(h: Harness, owner: TestUser, displayName = 'Acme'): Promise<string> {
  const res = await callUnary(
    h.orgClient,
    h.orgClient.createOrganization,
    CreateOrganizationRequest.fromPartial({ organization: { displayName } }),
    { metadata: owner.auth },
  );
  return res.organization!.name;
}

/** Makes `user` a member with `role` through the real invitation flow. */
export async function addMember(h: Harness, orgName: string, owner: TestUser, user: TestUser, role: Role): Promise<void> {
  const { token } = await callUnary(
    h.orgClient,
    h.orgClient.createInvitation,
    CreateInvitationRequest.fromPartial({ parent: orgName, invitation: { email: user.email, role } }),
    { metadata: owner.auth },
  );
  await callUnary(h.orgClient, h.orgClient.acceptInvitation, { token }, { metadata: user.auth });
}

/** Calls a BoardService method as `who` (undefined: no credentials). */
export function call<Req, Res>(h: Harness, method: (c: BoardServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
  return callUnary(h.client, method(h.client), req, { metadata: who?.auth ?? new Metadata() });
}

export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The gRPC code a call ends with: 0 (OK) or the error's code. */
export async function codeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    const code = (err as ServiceError).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

export function reasonOf(err: ServiceError): string | undefined {
  const info = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info ? ErrorInfo.decode(info.value).reason : undefined;
}

export function violationsOf(err: ServiceError): string[] {
  const bad = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.BadRequest'));
  return bad ? BadRequest.decode(bad.value).fieldViolations.map((v) => v.field) : [];
}

/** The board service's outbox, oldest first (the outbox is not a tenant table: no org needed to read it). */
export async function outbox(h: Harness): Promise<{ type: string; resource: string; organization: string; actor: string }[]> {
  return h.board.db.em
    .fork()
    .execute('select type, resource, organization, actor from outbox order by seq');
}

export { Role };
