import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { AuditServiceClient, type ListAuditEventsRequest } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { AuditEvent } from '@taskmesh/gen/taskmesh/audit/v1/audit_event.js';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import type { EventBus } from '@taskmesh/runtime/events/event-bus';
import { createInProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { createJetStreamBus } from '@taskmesh/runtime/events/jetstream-bus';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
// Tests only: real identity, org (and board, task) services produce the events the audit service consumes.
import { boardConfigSchema } from '../../board/src/config.ts';
import { startBoard, type RunningBoard } from '../../board/src/server.ts';
import { identityConfigSchema } from '../../identity/src/config.ts';
import { startIdentity, type RunningIdentity } from '../../identity/src/server.ts';
import { orgConfigSchema } from '../../org/src/config.ts';
import { startOrg, type RunningOrg } from '../../org/src/server.ts';
import { taskConfigSchema } from '../../task/src/config.ts';
import { startTask, type RunningTask } from '../../task/src/server.ts';
import { auditConfigSchema } from '../src/config.ts';
import { startAudit, type RunningAudit } from '../src/server.ts';
import { freePort } from '@taskmesh/runtime/testing/ports';

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface AuditStack {
  db: TestDatabase;
  bus: EventBus;
  identity: RunningIdentity;
  org: RunningOrg;
  audit: RunningAudit;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  auditClient: AuditServiceClient;
  /** Present when started with `withBoardAndTask`. */
  boards?: { board: RunningBoard; task: RunningTask; boardClient: BoardServiceClient; taskClient: TaskServiceClient };
  close(): Promise<void>;
}


/**
 * Identity, org and audit on port 0 with their own schemas in one test database, sharing one event bus as the
 * embedded launcher shares it: in-process, or JetStream on `natsUrl` (a stream of this run's own). The
 * producers relay their own outboxes onto it, as in the embedded launcher.
 */
export async function startAuditStack(
  options: { natsUrl?: string; audit?: Record<string, string>; withBoardAndTask?: boolean } = {},
): Promise<AuditStack> {
  const db = await createTestDatabase();
  const common = { DATABASE_URL: db.databaseUrl, TASKMESH_DATA_DIR: db.dataDir };
  const streams = options.natsUrl ? uniqueStreamSettings() : undefined;
  const bus: EventBus = options.natsUrl
    ? createJetStreamBus({ natsUrl: options.natsUrl, log: quietLog, name: 'audit-test', ...streams })
    : createInProcessBus({ log: quietLog });
  const identity = await startIdentity({
    config: identityConfigSchema.parse({ ...common, IDENTITY_PORT: '0', ARGON2_MEMORY_KIB: '1024', ARGON2_ITERATIONS: '1', SIGNUP_MAX_PER_ADDRESS: '100000' }),
    log: quietLog,
    bus,
  });
  const org = await startOrg({
    config: orgConfigSchema.parse({ ...common, ORG_PORT: '0', IDENTITY_ADDR: identity.grpc.address }),
    log: quietLog,
    mailer: { send: async () => undefined, close: () => undefined },
    bus,
  });
  const audit = await startAudit({
    config: auditConfigSchema.parse({
      ...common,
      AUDIT_PORT: '0',
      IDENTITY_ADDR: identity.grpc.address,
      ORG_ADDR: org.grpc.address,
      ...options.audit,
    }),
    log: quietLog,
    bus,
  });
  let boards: AuditStack['boards'];
  if (options.withBoardAndTask) {
    const taskPort = await freePort();
    const upstream = { ...common, IDENTITY_ADDR: identity.grpc.address, ORG_ADDR: org.grpc.address };
    const board = await startBoard({
      config: boardConfigSchema.parse({ ...upstream, BOARD_PORT: '0', TASK_ADDR: `127.0.0.1:${taskPort}` }),
      log: quietLog,
      bus,
    });
    const task = await startTask({
      config: taskConfigSchema.parse({ ...upstream, TASK_PORT: String(taskPort), BOARD_ADDR: board.grpc.address }),
      log: quietLog,
      bus,
    });
    boards = {
      board,
      task,
      boardClient: new BoardServiceClient(board.grpc.address, credentials.createInsecure()),
      taskClient: new TaskServiceClient(task.grpc.address, credentials.createInsecure()),
    };
  }
  bus.start();
  const identityClient = new IdentityServiceClient(identity.grpc.address, credentials.createInsecure());
  const orgClient = new OrgServiceClient(org.grpc.address, credentials.createInsecure());
  const auditClient = new AuditServiceClient(audit.grpc.address, credentials.createInsecure());
  return {
    db,
    bus,
    identity,
    org,
    audit,
    identityClient,
    orgClient,
    auditClient,
    ...(boards ? { boards } : {}),
    async close() {
      for (const client of [identityClient, orgClient, auditClient]) client.close();
      if (boards) {
        boards.boardClient.close();
        boards.taskClient.close();
        await boards.task.close();
        await boards.board.close();
      }
      await audit.close();
      await org.close();
      await identity.close();
      await bus.close();
      if (options.natsUrl && streams) {
        const nc = await connect({ servers: options.natsUrl });
        const jsm = await jetstreamManager(nc);
        for (const stream of [streams.stream, `${streams.stream}_DLQ`]) await jsm.streams.delete(stream).catch(() => undefined);
        await nc.close();
      }
      await db.drop();
    },
  };
}

export interface TestUser {
  id: string;
  /** users/{id} */
  name: string;
  email: string;
  auth: Metadata;
}

let counter = 0;
export async function signUp(stack: AuditStack, label = 'user'): Promise<TestUser> {
  const email = `${label}-${++counter}-${process.pid}-${Date.now()}@example.com`;
  const res = await callUnary(stack.identityClient, stack.identityClient.signUp, {
    email,
    password: 'correct horse battery',
    displayName: `${label} ${counter}`,
  });
  const auth = new Metadata();
  auth.set('authorization', `Bearer ${res.accessToken}`);
  return { id: res.user!.name.slice('users/'.length), name: res.user!.name, email, auth };
}

/** Calls an OrgService method as `who`. */
export function orgCall<Req, Res>(stack: AuditStack, method: (c: OrgServiceClient) => UnaryMethod<Req, Res>, req: Req, who: TestUser): Promise<Res> {
  return callUnary(stack.orgClient, method(stack.orgClient), req, { metadata: who.auth });
}

/** ListAuditEvents as `who` (undefined: no credentials). */
export function listAuditEvents(stack: AuditStack, req: Partial<ListAuditEventsRequest> & { parent: string }, who?: TestUser) {
  const request: ListAuditEventsRequest = { pageSize: 0, pageToken: '', actor: '', resource: '', eventType: '', ...req };
  return callUnary(stack.auditClient, stack.auditClient.listAuditEvents, request, { metadata: who?.auth ?? new Metadata() });
}

/** Every audit event of an org through the API from `req.pageToken` on, following page tokens, newest first. */
export async function allAuditEvents(stack: AuditStack, req: Partial<ListAuditEventsRequest> & { parent: string }, who: TestUser): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let pageToken = req.pageToken ?? '';
  do {
    const page = await listAuditEvents(stack, { ...req, pageToken }, who);
    events.push(...page.auditEvents);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return events;
}

/** A new org owned by `owner`; returns organizations/{id}. */
export async function createOrganization(stack: AuditStack, owner: TestUser, displayName = 'Acme'): Promise<string> {
  const res = await orgCall(stack, (c) => c.createOrganization, { organization: { name: '', displayName, etag: '' }, requestId: '' }, owner);
  return res.organization!.name;
}

/** Invites `user` into `org` with `role` (as `by`) and has them accept. */
export async function addMember(stack: AuditStack, org: string, by: TestUser, user: TestUser, role: Role): Promise<void> {
  const invited = await orgCall(
    stack,
    (c) => c.createInvitation,
    { parent: org, invitation: { name: '', email: user.email, role, inviter: '' }, requestId: '' },
    by,
  );
  await orgCall(stack, (c) => c.acceptInvitation, { token: invited.token }, user);
}

/**
 * Polls `check` until it returns something other than undefined/false; fails with `what` after ~60 s (generous:
 * on a shared nats-server a stream can wait for storage that other test runs still hold).
 */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string): Promise<T> {
  for (let attempt = 0; attempt < 1_200; attempt++) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
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
