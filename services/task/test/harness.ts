import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { BadRequest, ErrorInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { BoardServiceClient, CreateBoardRequest, CreateListRequest } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { CreateInvitationRequest, CreateOrganizationRequest, OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { statusDetailsOf } from '@taskmesh/runtime/errors';
import { createInProcessBus, type InProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import type { Mailer } from '@taskmesh/runtime/mail';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
// Tests only: the real identity, org and board services beside the task service, each with its own schema.
import { boardConfigSchema } from '../../board/src/config.ts';
import { startBoard, type RunningBoard } from '../../board/src/server.ts';
import { identityConfigSchema } from '../../identity/src/config.ts';
import { startIdentity, type RunningIdentity } from '../../identity/src/server.ts';
import { orgConfigSchema } from '../../org/src/config.ts';
import { startOrg, type RunningOrg } from '../../org/src/server.ts';
import { taskConfigSchema } from '../src/config.ts';
import { startTask, type RunningTask } from '../src/server.ts';
import { freePort } from '@taskmesh/runtime/testing/ports';

export interface Harness {
  db: TestDatabase;
  identity: RunningIdentity;
  org: RunningOrg;
  board: RunningBoard;
  task: RunningTask;
  bus: InProcessBus;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  boardClient: BoardServiceClient;
  client: TaskServiceClient;
  close(): Promise<void>;
}


/** identity + org + board + task on loopback with one in-process event bus, as the embedded stack runs them. */
export async function startHarness(): Promise<Harness> {
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
  const bus = createInProcessBus({ log });
  const taskPort = await freePort();
  const upstream = { IDENTITY_ADDR: identity.grpc.address, ORG_ADDR: org.grpc.address, MEMBERSHIP_CACHE_TTL_MS: '0' };
  const board = await startBoard({
    config: boardConfigSchema.parse({ ...common, ...upstream, BOARD_PORT: '0', TASK_ADDR: `127.0.0.1:${taskPort}` }),
    log,
    bus,
  });
  const task = await startTask({
    config: taskConfigSchema.parse({ ...common, ...upstream, TASK_PORT: String(taskPort), BOARD_ADDR: board.grpc.address }),
    log,
    bus,
  });
  bus.start();
  const identityClient = new IdentityServiceClient(identity.grpc.address, credentials.createInsecure());
  const orgClient = new OrgServiceClient(org.grpc.address, credentials.createInsecure());
  const boardClient = new BoardServiceClient(board.grpc.address, credentials.createInsecure());
  const client = new TaskServiceClient(task.grpc.address, credentials.createInsecure());
  return {
    db,
    identity,
    org,
    board,
    task,
    bus,
    identityClient,
    orgClient,
    boardClient,
    client,
    async close() {
      client.close();
      boardClient.close();
      orgClient.close();
      identityClient.close();
      await task.close();
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
  name: string;
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
  return { id: res.user!.name.slice('users/'.length), name: res.user!.name, email, auth };
}

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

/** A board with lists, through the real board service; returns the board and list names. */
export async function createBoard(h: Harness, orgName: string, owner: TestUser, lists: string[]): Promise<{ board: string; lists: string[] }> {
  const { board } = await callUnary(
    h.boardClient,
    h.boardClient.createBoard,
    CreateBoardRequest.fromPartial({ parent: orgName, board: { displayName: 'Board' } }),
    { metadata: owner.auth },
  );
  const names: string[] = [];
  for (const displayName of lists) {
    const res = await callUnary(
      h.boardClient,
      h.boardClient.createList,
      CreateListRequest.fromPartial({ parent: board!.name, list: { displayName } }),
      { metadata: owner.auth },
    );
    names.push(res.list!.name);
  }
  return { board: board!.name, lists: names };
}

/** Calls a TaskService method as `who`. */
export function call<Req, Res>(h: Harness, method: (c: TaskServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
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

/** The task service's outbox, oldest first. */
export async function outbox(h: Harness): Promise<{ type: string; resource: string; organization: string; actor: string; payload: Buffer }[]> {
  return h.task.db.em.fork().execute('select type, resource, organization, actor, payload from outbox order by seq');
}

export { Role };
