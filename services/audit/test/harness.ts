import type { ListAuditEventsRequest } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import { AuditServiceClient } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { AuditEvent } from '@taskmesh/gen/taskmesh/audit/v1/audit_event.js';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import { authOf, createOrg, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import pino from 'pino';
// Tests only: real identity, org (and board, task) services produce the events the audit service consumes.
import { boardService } from '../../board/src/descriptor.ts';
import type { RunningBoard } from '../../board/src/server.ts';
import { edgeFront } from '../../edge/src/descriptor.ts';
import { identityService } from '../../identity/src/descriptor.ts';
import type { RunningIdentity } from '../../identity/src/server.ts';
import { orgService } from '../../org/src/descriptor.ts';
import type { RunningOrg } from '../../org/src/server.ts';
import { taskService } from '../../task/src/descriptor.ts';
import type { RunningTask } from '../../task/src/server.ts';
import { auditService } from '../src/descriptor.ts';
import type { RunningAudit } from '../src/server.ts';

export { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
export { addMember, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface AuditStack extends TestStack {
  identity: RunningIdentity;
  org: RunningOrg;
  audit: RunningAudit;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  auditClient: AuditServiceClient;
  /** Present when started with `withBoardAndTask`. */
  boards?: { board: RunningBoard; task: RunningTask; boardClient: BoardServiceClient; taskClient: TaskServiceClient };
}

/**
 * Identity, org and audit (and board and task with `withBoardAndTask`; the REST edge with `rest`) sharing one
 * event bus as the embedded launcher shares it: in-process, or JetStream on `natsUrl` (a stream of this run's
 * own). `audit` is configuration for the stack.
 */
export async function startAuditStack(
  options: { natsUrl?: string; audit?: Record<string, string>; withBoardAndTask?: boolean; rest?: boolean } = {},
): Promise<AuditStack> {
  const stack = await startTestStack({
    services: [identityService, orgService, auditService, ...(options.withBoardAndTask ? [boardService, taskService] : [])],
    ...(options.natsUrl ? { natsUrl: options.natsUrl } : {}),
    ...(options.rest ? { front: edgeFront } : {}),
    overrides: { ...options.audit },
    inject: { org: { mailer: { send: async () => undefined, close: () => undefined } } },
  });
  return Object.assign(stack, {
    identity: stack.get(identityService),
    org: stack.get(orgService),
    audit: stack.get(auditService),
    identityClient: stack.clientOf(IdentityServiceClient),
    orgClient: stack.clientOf(OrgServiceClient),
    auditClient: stack.clientOf(AuditServiceClient),
    ...(options.withBoardAndTask
      ? {
          boards: {
            board: stack.get(boardService),
            task: stack.get(taskService),
            boardClient: stack.clientOf(BoardServiceClient),
            taskClient: stack.clientOf(TaskServiceClient),
          },
        }
      : {}),
  });
}

/** Calls an OrgService method as `who`. */
export function orgCall<Req, Res>(stack: AuditStack, method: (c: OrgServiceClient) => UnaryMethod<Req, Res>, req: Req, who: TestUser): Promise<Res> {
  return callUnary(stack.orgClient, method(stack.orgClient), req, { metadata: who.auth });
}

/** ListAuditEvents as `who` (undefined: no credentials). */
export function listAuditEvents(stack: AuditStack, req: Partial<ListAuditEventsRequest> & { parent: string }, who?: TestUser) {
  const request: ListAuditEventsRequest = { pageSize: 0, pageToken: '', actor: '', resource: '', eventType: '', ...req };
  return callUnary(stack.auditClient, stack.auditClient.listAuditEvents, request, { metadata: authOf(who) });
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
export const createOrganization = (stack: AuditStack, owner: TestUser, displayName = 'Acme'): Promise<string> => createOrg(stack, owner, displayName);

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
