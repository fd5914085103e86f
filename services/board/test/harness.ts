import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import type { EventBus } from '@taskmesh/runtime/events/event-bus';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import { authOf, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
// Tests only: the real identity and org (and task) services beside the board service, each with its own schema.
import { edgeFront } from '../../edge/src/descriptor.ts';
import { identityService } from '../../identity/src/descriptor.ts';
import type { RunningIdentity } from '../../identity/src/server.ts';
import { orgService } from '../../org/src/descriptor.ts';
import type { RunningOrg } from '../../org/src/server.ts';
import { taskService } from '../../task/src/descriptor.ts';
import type { RunningTask } from '../../task/src/server.ts';
import { boardService } from '../src/descriptor.ts';
import type { RunningBoard } from '../src/server.ts';

export { codeOf, failure, reasonOf, violationsOf } from '@taskmesh/runtime/testing/grpc-assertions';
export { addMember, createOrg, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';
export { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';

export interface Harness extends TestStack {
  identity: RunningIdentity;
  org: RunningOrg;
  board: RunningBoard;
  /** Only with startHarness({ withTask: true }). */
  task: RunningTask | undefined;
  taskClient: TaskServiceClient | undefined;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  client: BoardServiceClient;
}

/**
 * identity + org + board with one in-process event bus (or `bus`), the task service when asked, the REST edge
 * in front with `rest`. Without the task service, TASK_ADDR points at a closed port, so DeleteList without
 * force meets an unreachable task service.
 */
export async function startHarness(options: { withTask?: boolean; bus?: EventBus; rest?: boolean } = {}): Promise<Harness> {
  const stack = await startTestStack({
    services: [identityService, orgService, boardService, ...(options.withTask ? [taskService] : [])],
    ...(options.bus ? { bus: options.bus } : {}),
    ...(options.rest ? { front: edgeFront } : {}),
    overrides: { UPSTREAM_TIMEOUT_MS: '2000', ...(options.withTask ? {} : { TASK_ADDR: '127.0.0.1:1' }) },
  });
  return Object.assign(stack, {
    identity: stack.get(identityService),
    org: stack.get(orgService),
    board: stack.get(boardService),
    task: options.withTask ? stack.get(taskService) : undefined,
    taskClient: options.withTask ? stack.clientOf(TaskServiceClient) : undefined,
    identityClient: stack.clientOf(IdentityServiceClient),
    orgClient: stack.clientOf(OrgServiceClient),
    client: stack.clientOf(BoardServiceClient),
  });
}

/** Calls a BoardService method as `who` (undefined: no credentials). */
export function call<Req, Res>(h: Harness, method: (c: BoardServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
  return callUnary(h.client, method(h.client), req, { metadata: authOf(who) });
}

/** The board service's outbox, oldest first (the outbox is not a tenant table: no org needed to read it). */
export async function outbox(h: Harness): Promise<{ type: string; resource: string; organization: string; actor: string }[]> {
  return h.board.db.em.fork().execute('select type, resource, organization, actor from outbox order by seq');
}
