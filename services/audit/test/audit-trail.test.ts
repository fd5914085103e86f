import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { List } from '@taskmesh/gen/taskmesh/board/v1/board.js';
import { BoardServiceService } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { Priority, Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { TaskServiceService } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { auditQueryOf } from '../src/domain/audit-query.ts';
import { boardAndTaskCalls, type BoardScenario } from './audited-calls-boards.ts';
import { orgCalls, type AuditedCall, type ExpectedAudit, type OrgScenario } from './audited-calls.ts';
import { addMember, createOrganization, eventually, signUp, startAuditStack, type AuditStack, type TestUser } from './harness.ts';

// JetStream runs when a nats-server is reachable; with TASKMESH_REQUIRE_NATS=1 (CI) an unreachable one fails.
const natsUrl = await natsForTests();

/** Every recorded event of an org, oldest first, read through the service's own log (also for a deleted org). */
async function recorded(stack: AuditStack, org: string): Promise<ExpectedAudit[]> {
  const orgId = org.slice('organizations/'.length);
  const em = forkForOrg(stack.audit.db.em, orgId);
  const rows = [];
  let pageToken = '';
  do {
    const page = await stack.audit.auditLog.list(em, auditQueryOf(orgId, { actor: '', resource: '', eventType: '', pageSize: 500, pageToken }));
    rows.push(...page.entries);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return rows.reverse().map((row) => ({ eventType: row.eventType, actor: row.actor, resource: row.resource }));
}

/** The RPCs of a service that change something: all but reads, streams (the export's too) and internal checks. */
function mutatingRpcs(definition: object): Set<string> {
  return new Set(Object.keys(definition).filter((rpc) => !/^(get|list|search|watch|check|count|resolve|exportOrganizationData$)/.test(rpc)));
}

async function runTable<S>(calls: AuditedCall<S>[], scenario: S): Promise<ExpectedAudit[]> {
  const expected: ExpectedAudit[] = [];
  for (const call of calls) {
    const audit = await call.run(scenario);
    if (audit) expected.push(...[audit].flat());
  }
  return expected;
}

/**
 * Events of one producer are consumed in the order they were committed: once a later event of each producer
 * is recorded, everything the calls before made it write has been handled, so no extra entry can still arrive.
 */
async function sentinels(stack: AuditStack, owner: TestUser, producers: { board?: boolean }): Promise<void> {
  const org = await createOrganization(stack, owner, 'Sentinel');
  const types = ['taskmesh.org.v1.OrganizationCreated'];
  if (producers.board) {
    const { boardClient, taskClient } = stack.boards!;
    const meta = { metadata: owner.auth };
    const board = (await callUnary(boardClient, boardClient.createBoard, { parent: org, board: { name: '', displayName: 'S', description: '', etag: '', creator: '' }, requestId: '' }, meta)).board!.name;
    const list = (await callUnary(boardClient, boardClient.createList, { parent: board, list: List.fromPartial({ displayName: 'S' }), requestId: '' }, meta)).list!.name;
    await callUnary(taskClient, taskClient.createTask, { parent: board, task: Task.fromPartial({ list, title: 'S', priority: Priority.PRIORITY_LOW }), requestId: '' }, meta);
    types.push('taskmesh.board.v1.ListCreated', 'taskmesh.task.v1.TaskCreated');
  }
  await eventually(async () => {
    const seen = new Set((await recorded(stack, org)).map((e) => e.eventType));
    return types.every((type) => seen.has(type));
  }, 'the sentinel events');
}

describe.each([
  { mode: 'in-process', natsUrl: undefined },
  { mode: 'JetStream', natsUrl },
])('audit trail ($mode bus)', ({ mode, natsUrl: url }) => {
  const skip = mode === 'JetStream' && !url;
  let stack: AuditStack;

  beforeAll(async () => {
    if (!skip) stack = await startAuditStack({ ...(url ? { natsUrl: url } : {}), withBoardAndTask: true });
  }, 120_000);
  afterAll(async () => stack?.close());

  it.skipIf(skip)('every mutating org API call produces exactly one audit event with the right actor and resource', async () => {
    expect(new Set(orgCalls.map((call) => call.rpc))).toEqual(mutatingRpcs(OrgServiceService));

    const [owner, admin, member, leaver, outsider] = await Promise.all(
      ['owner', 'admin', 'member', 'leaver', 'outsider'].map((label) => signUp(stack, label)),
    );
    const scenario: OrgScenario = { stack, owner: owner!, admin: admin!, member: member!, leaver: leaver!, outsider: outsider!, org: '', etag: '', invitations: {} };
    const expected = await runTable(orgCalls, scenario);

    await eventually(async () => (await recorded(stack, scenario.org)).length >= expected.length, 'the expected audit events');
    await sentinels(stack, owner!, {});
    // Same entries, same order: one per call (none for the calls that must record nothing).
    expect(await recorded(stack, scenario.org)).toEqual(expected);
  }, 180_000);

  it.skipIf(skip)('every mutating board and task API call produces exactly one audit event with the right actor and resource', async () => {
    const covered = new Set(boardAndTaskCalls.map((call) => call.rpc));
    expect(covered).toEqual(new Set([...mutatingRpcs(BoardServiceService), ...mutatingRpcs(TaskServiceService)]));

    const [owner, member] = await Promise.all(['owner', 'member'].map((label) => signUp(stack, label)));
    const org = await createOrganization(stack, owner!, 'Boards');
    await addMember(stack, org, owner!, member!, Role.ROLE_MEMBER);
    // The org's own entries (created, invitation created and accepted) come first, from another producer.
    await eventually(async () => (await recorded(stack, org)).length === 3, 'the setup entries');
    const scenario: BoardScenario = {
      stack,
      owner: owner!,
      member: member!,
      org,
      board: '',
      lists: {},
      tasks: {},
      comment: '',
      recorded: () => recorded(stack, org),
    };
    const expected = await runTable(boardAndTaskCalls, scenario);

    await eventually(async () => (await recorded(stack, org)).length >= 3 + expected.length, 'the expected audit events');
    await sentinels(stack, owner!, { board: true });
    expect((await recorded(stack, org)).slice(3)).toEqual(expected);
  }, 180_000);
});
