import { BoardServiceClient, CreateBoardRequest, CreateListRequest } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import { authOf, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
// Tests only: the real identity, org and board services beside the task service, each with its own schema.
import { boardService } from '../../board/src/descriptor.ts';
import { identityService } from '../../identity/src/descriptor.ts';
import { orgService } from '../../org/src/descriptor.ts';
import { taskService } from '../src/descriptor.ts';
import { edgeFront } from '../../edge/src/descriptor.ts';
import type { RunningBoard } from '../../board/src/server.ts';
import type { RunningIdentity } from '../../identity/src/server.ts';
import type { RunningOrg } from '../../org/src/server.ts';
import type { RunningTask } from '../src/server.ts';

export { codeOf, failure, reasonOf, violationsOf } from '@taskmesh/runtime/testing/grpc-assertions';
export { addMember, createOrg, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';
export { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';

export interface Harness extends TestStack {
  identity: RunningIdentity;
  org: RunningOrg;
  board: RunningBoard;
  task: RunningTask;
  identityClient: IdentityServiceClient;
  orgClient: OrgServiceClient;
  boardClient: BoardServiceClient;
  client: TaskServiceClient;
}

/** identity + org + board + task with one in-process event bus, as the embedded stack runs them; `rest`: the edge in front (h.url). */
export async function startHarness(options: { rest?: boolean } = {}): Promise<Harness> {
  const stack = await startTestStack({ services: [identityService, orgService, boardService, taskService], ...(options.rest ? { front: edgeFront } : {}) });
  return Object.assign(stack, {
    identity: stack.get(identityService),
    org: stack.get(orgService),
    board: stack.get(boardService),
    task: stack.get(taskService),
    identityClient: stack.clientOf(IdentityServiceClient),
    orgClient: stack.clientOf(OrgServiceClient),
    boardClient: stack.clientOf(BoardServiceClient),
    client: stack.clientOf(TaskServiceClient),
  });
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
    const res = await callUnary(h.boardClient, h.boardClient.createList, CreateListRequest.fromPartial({ parent: board!.name, list: { displayName } }), {
      metadata: owner.auth,
    });
    names.push(res.list!.name);
  }
  return { board: board!.name, lists: names };
}

/** Calls a TaskService method as `who`. */
export function call<Req, Res>(h: Harness, method: (c: TaskServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
  return callUnary(h.client, method(h.client), req, { metadata: authOf(who) });
}

/** The task service's outbox, oldest first. */
export async function outbox(h: Harness): Promise<{ type: string; resource: string; organization: string; actor: string; payload: Buffer }[]> {
  return h.task.db.em.fork().execute('select type, resource, organization, actor, payload from outbox order by seq');
}
