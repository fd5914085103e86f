import { randomUUID } from 'node:crypto';
import { status as GrpcCode } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@taskmesh/gen/taskmesh/audit/v1/audit_event.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { OrganizationUpdated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import type { InProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { AuditRetention } from '../src/db/audit-retention.ts';
import { AuditEventRecord } from '../src/db/entities.ts';
import {
  addMember,
  allAuditEvents,
  codeOf,
  createOrganization,
  eventually,
  listAuditEvents,
  orgCall,
  quietLog,
  signUp,
  startAuditStack,
  type AuditStack,
  type TestUser,
} from './harness.ts';

const ORG_UPDATED = 'taskmesh.org.v1.OrganizationUpdated';
const DAY_MS = 86_400_000;

let stack: AuditStack;
let owner: TestUser, admin: TestUser, member: TestUser, viewer: TestUser, outsider: TestUser;
/** An org whose log holds only what its setup and the tests below did through the APIs. */
let org: string;

async function rename(as: TestUser, displayName: string, target = org) {
  await orgCall(stack, (c) => c.updateOrganization, { organization: { name: target, displayName, etag: '' }, updateMask: ['display_name'] }, as);
}

/** Waits until the org's log (read as the owner) holds `count` events, and returns them newest first. */
async function logOf(target: string, count: number): Promise<AuditEvent[]> {
  return eventually(async () => {
    const events = await allAuditEvents(stack, { parent: target }, owner);
    return events.length >= count && events;
  }, `${count} audit events in ${target}`);
}

/** An OrganizationUpdated event as org's outbox would carry it, for feeding the consumer directly. */
function syntheticEvent(target: string, occurTime: Date, id = randomUUID()): EventEnvelope {
  return {
    id,
    type: ORG_UPDATED,
    organization: target,
    actor: owner.name,
    resource: target,
    occurTime,
    payload: OrganizationUpdated.encode({ organization: { name: target, displayName: 'Synthetic', etag: '' }, changes: [] }).finish(),
  };
}

beforeAll(async () => {
  stack = await startAuditStack({ audit: { AUDIT_RETENTION_DAYS: '30', MEMBERSHIP_CACHE_TTL_MS: '30000' } });
  [owner, admin, member, viewer, outsider] = await Promise.all(['owner', 'admin', 'member', 'viewer', 'outsider'].map((l) => signUp(stack, l)));
  org = await createOrganization(stack, owner, 'Audited');
  await addMember(stack, org, owner, admin, Role.ROLE_ADMIN);
  await addMember(stack, org, owner, member, Role.ROLE_MEMBER);
  await addMember(stack, org, admin, viewer, Role.ROLE_VIEWER);
  // OrganizationCreated + 3 × (InvitationCreated, InvitationAccepted).
  await logOf(org, 7);
}, 120_000);
afterAll(async () => stack?.close());

describe('ListAuditEvents access', () => {
  it('is open to owners and admins, PERMISSION_DENIED for members and viewers, NOT_FOUND for non-members', async () => {
    expect(await codeOf(listAuditEvents(stack, { parent: org }, owner))).toBe(GrpcCode.OK);
    expect(await codeOf(listAuditEvents(stack, { parent: org }, admin))).toBe(GrpcCode.OK);
    expect(await codeOf(listAuditEvents(stack, { parent: org }, member))).toBe(GrpcCode.PERMISSION_DENIED);
    expect(await codeOf(listAuditEvents(stack, { parent: org }, viewer))).toBe(GrpcCode.PERMISSION_DENIED);
    expect(await codeOf(listAuditEvents(stack, { parent: org }, outsider))).toBe(GrpcCode.NOT_FOUND);
    expect(await codeOf(listAuditEvents(stack, { parent: `organizations/${randomUUID()}` }, owner))).toBe(GrpcCode.NOT_FOUND);
  });

  it('needs a valid token and a parent under organizations/', async () => {
    expect(await codeOf(listAuditEvents(stack, { parent: org }))).toBe(GrpcCode.UNAUTHENTICATED);
    expect(await codeOf(listAuditEvents(stack, { parent: 'boards/x' }, owner))).toBe(GrpcCode.INVALID_ARGUMENT);
  });

  // The membership cache holds roles for 30 s here: only the eviction on MemberRoleChanged can revoke access sooner.
  it('a demoted admin loses access as soon as the role change is consumed', async () => {
    const demoted = await signUp(stack, 'demoted');
    await addMember(stack, org, owner, demoted, Role.ROLE_ADMIN);
    expect(await codeOf(listAuditEvents(stack, { parent: org }, demoted))).toBe(GrpcCode.OK);
    await orgCall(
      stack,
      (c) => c.updateMember,
      { member: { name: `${org}/members/${demoted.id}`, user: '', email: '', displayName: '', role: Role.ROLE_MEMBER, etag: '' }, updateMask: ['role'] },
      owner,
    );
    // In-process, the relay marks an outbox row sent only after every subscriber handled it.
    await eventually(async () => {
      const [{ unsent }] = await stack.org.db.em.fork().execute<{ unsent: number }[]>(
        'select count(*)::int as unsent from outbox where published_at is null',
      );
      return unsent === 0;
    }, "org's outbox drained");
    expect(await codeOf(listAuditEvents(stack, { parent: org }, demoted))).toBe(GrpcCode.PERMISSION_DENIED);
  });
});

describe('recorded events', () => {
  it('carry name, event id, type, actor, resource, occur time, the changes and the full payload', async () => {
    const target = await createOrganization(stack, owner, 'Before');
    await rename(owner, 'After', target);
    const [updated] = await logOf(target, 2);
    expect(updated).toMatchObject({
      eventType: ORG_UPDATED,
      actor: owner.name,
      resource: target,
      changes: [{ field: 'display_name', oldValue: 'Before', newValue: 'After' }],
      payload: { typeUrl: `type.googleapis.com/${ORG_UPDATED}` },
    });
    expect(updated!.name).toBe(`${target}/auditEvents/${updated!.eventId}`);
    expect(Math.abs(updated!.occurTime!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(OrganizationUpdated.decode(updated!.payload!.value).organization?.displayName).toBe('After');
  });

  it('a role change is recorded with the old and new role', async () => {
    const events = await allAuditEvents(stack, { parent: org, eventType: 'taskmesh.org.v1.MemberRoleChanged' }, owner);
    expect(events[0]!.changes).toEqual([{ field: 'role', oldValue: 'ROLE_ADMIN', newValue: 'ROLE_MEMBER' }]);
  });

  it('an org sees only its own events, in the ORM filter and in row-level security alike', async () => {
    const other = await createOrganization(stack, owner, 'Other');
    await logOf(other, 1);
    const events = await allAuditEvents(stack, { parent: org }, owner);
    expect(events.every((e) => e.name.startsWith(`${org}/`))).toBe(true);
    const orgId = org.slice('organizations/'.length);
    // Second wall: with the ORM's tenant filter off, RLS alone still limits the rows to the bound org.
    const rows = await forkForOrg(stack.audit.db.em, orgId).find(AuditEventRecord, {}, { filters: false });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.orgId === orgId)).toBe(true);
  });

  it('are append-only: the application cannot change a recorded event', async () => {
    const [latest] = await allAuditEvents(stack, { parent: org, pageSize: 1 }, owner);
    const orgId = org.slice('organizations/'.length);
    await expect(
      forkForOrg(stack.audit.db.em, orgId).transactional((tx) =>
        tx.execute('update audit_events set actor = ? where id = ?', ['users/forged', latest!.eventId]),
      ),
    ).rejects.toThrow(/append-only/);
  });
});

describe('filters', () => {
  let events: AuditEvent[];
  beforeAll(async () => {
    const before = (await allAuditEvents(stack, { parent: org }, owner)).length;
    await rename(admin, 'By admin');
    await rename(owner, 'By owner');
    events = await logOf(org, before + 2);
  });

  it('actor: only that user’s events', async () => {
    const byAdmin = await allAuditEvents(stack, { parent: org, actor: admin.name }, owner);
    expect(byAdmin.map((e) => e.eventId)).toEqual(events.filter((e) => e.actor === admin.name).map((e) => e.eventId));
    expect(byAdmin.length).toBeGreaterThanOrEqual(2);
  });

  it('resource: only events about that resource', async () => {
    const memberName = `${org}/members/${member.id}`;
    const invitation = events.find((e) => e.eventType === 'taskmesh.org.v1.InvitationAccepted' && e.actor === member.name)!.resource;
    expect((await allAuditEvents(stack, { parent: org, resource: invitation }, owner)).map((e) => e.eventType)).toEqual([
      'taskmesh.org.v1.InvitationAccepted',
      'taskmesh.org.v1.InvitationCreated',
    ]);
    // MemberAdded is a companion of InvitationAccepted, not an entry of its own.
    expect(await allAuditEvents(stack, { parent: org, resource: memberName }, owner)).toEqual([]);
  });

  it('event type, and filters combine with AND', async () => {
    const renames = await allAuditEvents(stack, { parent: org, eventType: ORG_UPDATED }, owner);
    expect(renames.map((e) => e.eventId)).toEqual(events.filter((e) => e.eventType === ORG_UPDATED).map((e) => e.eventId));
    const renamesByOwner = await allAuditEvents(stack, { parent: org, eventType: ORG_UPDATED, actor: owner.name }, owner);
    expect(renamesByOwner.map((e) => e.eventId)).toEqual(renames.filter((e) => e.actor === owner.name).map((e) => e.eventId));
  });

  it('time range: after is inclusive, before exclusive', async () => {
    const middle = events[Math.floor(events.length / 2)]!;
    const t = middle.occurTime!;
    const fromT = await allAuditEvents(stack, { parent: org, after: t }, owner);
    const beforeT = await allAuditEvents(stack, { parent: org, before: t }, owner);
    expect(fromT.map((e) => e.eventId)).toEqual(events.filter((e) => e.occurTime!.getTime() >= t.getTime()).map((e) => e.eventId));
    expect(beforeT.map((e) => e.eventId)).toEqual(events.filter((e) => e.occurTime!.getTime() < t.getTime()).map((e) => e.eventId));
    expect(fromT).toContainEqual(middle);
    expect(fromT.length + beforeT.length).toBe(events.length);
  });

  it('malformed filters are INVALID_ARGUMENT', async () => {
    for (const bad of [{ actor: 'alice' }, { eventType: 'OrganizationUpdated' }, { after: new Date(2_000), before: new Date(1_000) }]) {
      expect(await codeOf(listAuditEvents(stack, { parent: org, ...bad }, owner))).toBe(GrpcCode.INVALID_ARGUMENT);
    }
  });
});

describe('paging', () => {
  it('serves newest first in pages that together are the whole log, each event once', async () => {
    const all = (await listAuditEvents(stack, { parent: org, pageSize: 500 }, owner)).auditEvents;
    expect(all.length).toBeGreaterThan(5);
    const times = all.map((e) => e.occurTime!.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const paged: AuditEvent[] = [];
    let pageToken = '';
    do {
      const page = await listAuditEvents(stack, { parent: org, pageSize: 2, pageToken }, owner);
      expect(page.auditEvents.length).toBeLessThanOrEqual(2);
      paged.push(...page.auditEvents);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(paged.map((e) => e.eventId)).toEqual(all.map((e) => e.eventId));
  });

  it('is stable while new events arrive', async () => {
    const first = await listAuditEvents(stack, { parent: org, pageSize: 3 }, owner);
    const before = await allAuditEvents(stack, { parent: org }, owner);
    await rename(owner, 'While paging');
    await logOf(org, before.length + 1);
    const rest = await allAuditEvents(stack, { parent: org, pageSize: 3, pageToken: first.nextPageToken }, owner);
    expect([...first.auditEvents, ...rest].map((e) => e.eventId)).toEqual(before.map((e) => e.eventId));
  });

  it('rejects a negative page size and a token issued for other filters', async () => {
    expect(await codeOf(listAuditEvents(stack, { parent: org, pageSize: -1 }, owner))).toBe(GrpcCode.INVALID_ARGUMENT);
    const page = await listAuditEvents(stack, { parent: org, pageSize: 1 }, owner);
    expect(await codeOf(listAuditEvents(stack, { parent: org, pageSize: 1, pageToken: page.nextPageToken, actor: owner.name }, owner))).toBe(
      GrpcCode.INVALID_ARGUMENT,
    );
    expect(await codeOf(listAuditEvents(stack, { parent: org, pageToken: 'garbage' }, owner))).toBe(GrpcCode.INVALID_ARGUMENT);
  });
});

describe('consumer', () => {
  it('records an event delivered twice once', async () => {
    const target = await createOrganization(stack, owner, 'Idempotent');
    await logOf(target, 1);
    const event = syntheticEvent(target, new Date());
    await stack.bus.publish(event, {});
    await stack.bus.publish(event, {});
    const events = await allAuditEvents(stack, { parent: target }, owner);
    expect(events.filter((e) => e.eventId === event.id)).toHaveLength(1);
    expect(events).toHaveLength(2);
  });

  it('dead-letters an audited event that names no organization instead of retrying it', async () => {
    const event = { ...syntheticEvent('', new Date()), organization: '' };
    await stack.bus.publish(event, {});
    expect((stack.bus as InProcessBus).deadLetters()).toContainEqual(expect.objectContaining({ consumer: 'audit', deliveries: 1, event }));
  });
});

describe('retention', () => {
  it('purges events older than AUDIT_RETENTION_DAYS in every org and keeps the rest', async () => {
    const [a, b] = [await createOrganization(stack, owner, 'Retention A'), await createOrganization(stack, owner, 'Retention B')];
    const now = new Date();
    const expired = [syntheticEvent(a, new Date(now.getTime() - 31 * DAY_MS)), syntheticEvent(b, new Date(now.getTime() - 40 * DAY_MS))];
    const kept = syntheticEvent(a, new Date(now.getTime() - 29 * DAY_MS));
    for (const event of [...expired, kept]) await stack.bus.publish(event, {});
    expect((await logOf(a, 3)).map((e) => e.eventId)).toContain(expired[0]!.id);
    expect((await logOf(b, 2)).map((e) => e.eventId)).toContain(expired[1]!.id);

    expect(await stack.audit.retention.purgeDue(now)).toBe(2);
    const left = [...(await allAuditEvents(stack, { parent: a }, owner)), ...(await allAuditEvents(stack, { parent: b }, owner))];
    expect(left.map((e) => e.eventId)).toContain(kept.id);
    expect(left.map((e) => e.eventId)).not.toContain(expired[0]!.id);
    expect(left.map((e) => e.eventId)).not.toContain(expired[1]!.id);
    expect(left).toHaveLength(3);
  });

  it('runs periodically', async () => {
    const target = await createOrganization(stack, owner, 'Periodic');
    const expired = syntheticEvent(target, new Date(Date.now() - 31 * DAY_MS));
    await stack.bus.publish(expired, {});
    expect((await logOf(target, 2)).map((e) => e.eventId)).toContain(expired.id);
    const retention = new AuditRetention(stack.audit.auditLog, { retentionDays: 30, intervalSeconds: 1 }, quietLog);
    retention.start();
    try {
      await eventually(
        async () => !(await allAuditEvents(stack, { parent: target }, owner)).some((e) => e.eventId === expired.id),
        'the periodic purge',
      );
    } finally {
      await retention.stop();
    }
    expect(await allAuditEvents(stack, { parent: target }, owner)).toHaveLength(1);
  });
});
