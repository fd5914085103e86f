import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { auditQueryOf } from '../src/domain/audit-query.ts';
import { orgCalls, type ExpectedAudit, type OrgScenario } from './audited-calls.ts';
import { createOrganization, eventually, signUp, startAuditStack, type AuditStack } from './harness.ts';

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

describe.each([
  { mode: 'in-process', natsUrl: undefined },
  { mode: 'JetStream', natsUrl },
])('audit trail ($mode bus)', ({ mode, natsUrl: url }) => {
  const skip = mode === 'JetStream' && !url;
  let stack: AuditStack;

  beforeAll(async () => {
    if (!skip) stack = await startAuditStack(url ? { natsUrl: url } : {});
  }, 120_000);
  afterAll(async () => stack?.close());

  it.skipIf(skip)('every mutating org API call produces exactly one audit event with the right actor and resource', async () => {
    const mutating = Object.keys(OrgServiceService).filter((rpc) => !/^(get|list)/.test(rpc));
    expect(new Set(orgCalls.map((call) => call.rpc))).toEqual(new Set(mutating));

    const [owner, admin, member, leaver, outsider] = await Promise.all(
      ['owner', 'admin', 'member', 'leaver', 'outsider'].map((label) => signUp(stack, label)),
    );
    const scenario: OrgScenario = { stack, owner: owner!, admin: admin!, member: member!, leaver: leaver!, outsider: outsider!, org: '', etag: '', invitations: {} };
    const expected: ExpectedAudit[] = [];
    for (const call of orgCalls) {
      const audit = await call.run(scenario);
      if (audit) expected.push(...[audit].flat());
    }

    await eventually(async () => (await recorded(stack, scenario.org)).length >= expected.length, 'the expected audit events');
    // Events of one producer are consumed in the order they were committed: once a later event of org is
    // recorded, everything the calls above made org write has been handled, so no extra entry can still arrive.
    const sentinel = await createOrganization(stack, owner!, 'Sentinel');
    await eventually(async () => (await recorded(stack, sentinel)).length > 0, 'the sentinel event');

    // Same entries, same order: one per call (none for the calls that must record nothing).
    expect(await recorded(stack, scenario.org)).toEqual(expected);
  }, 180_000);
});
