import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { InvitationRecord, MembershipRecord, OrganizationRecord } from '../src/db/entities.ts';
import { addMember, call, createOrg, failure, invite, Role, signUp, startHarness, type Harness, type TestUser } from './harness.ts';

let h: Harness;
let alice: TestUser;
let bob: TestUser;
/** Alice's org and Bob's org, each with a member and a pending invitation. */
let orgA: { id: string; name: string };
let orgB: { id: string; name: string };
let invitationA: string;
let invitationB: string;
let tokenB: string;

beforeAll(async () => {
  h = await startHarness({}, { rest: true });
  [alice, bob] = await Promise.all([signUp(h, 'alice'), signUp(h, 'bob')]);
  orgA = await createOrg(h, alice, 'Alice Inc');
  orgB = await createOrg(h, bob, 'Bob Ltd');
  await addMember(h, orgA.name, alice, await signUp(h), Role.ROLE_MEMBER);
  await addMember(h, orgB.name, bob, await signUp(h), Role.ROLE_MEMBER);
  invitationA = (await invite(h, orgA.name, alice, 'someone@example.com', Role.ROLE_VIEWER)).invitation!.name;
  const b = await invite(h, orgB.name, bob, 'someone@example.com', Role.ROLE_VIEWER);
  invitationB = b.invitation!.name;
  tokenB = b.token;
});
afterAll(async () => {
  await h?.close();
});

const idOf = (name: string) => name.slice(name.lastIndexOf('/') + 1);

describe('row-level security, the second wall', () => {
  it('a query with the ORM tenant filter switched off still sees only the current org\'s rows', async () => {
    const em = forkForOrg(h.org.db.em, orgA.id);
    // Deliberately unfiltered: only RLS stands between this query and Bob's rows.
    const memberships = await em.find(MembershipRecord, {}, { filters: false });
    const invitations = await em.find(InvitationRecord, {}, { filters: false });
    const organizations = await em.find(OrganizationRecord, {}, { filters: false });
    expect(memberships.length).toBe(2);
    expect(new Set(memberships.map((m) => m.orgId))).toEqual(new Set([orgA.id]));
    // The pending invitation and the accepted one that made the member.
    expect(invitations.map((i) => i.id)).toContain(idOf(invitationA));
    expect(new Set(invitations.map((i) => i.orgId))).toEqual(new Set([orgA.id]));
    expect(invitations.length).toBe(await em.count(InvitationRecord, {}));
    expect(organizations.map((o) => o.id)).toEqual([orgA.id]);
    // Even asking for Bob's rows by id finds nothing.
    expect(await em.count(MembershipRecord, { orgId: orgB.id }, { filters: false })).toBe(0);
    expect(await em.findOne(InvitationRecord, { id: idOf(invitationB) }, { filters: false })).toBeNull();
  });

  it('raw SQL in a transaction bound to an org sees only that org', async () => {
    const em = forkForOrg(h.org.db.em, orgB.id);
    const rows = await em.transactional((tx) => tx.getConnection().execute<{ org_id: string }[]>('select org_id from memberships', [], 'all', tx.getTransactionContext()));
    expect(rows.length).toBe(2);
    expect(new Set(rows.map((r) => r.org_id))).toEqual(new Set([orgB.id]));
  });

  it('without an org, unfiltered queries see nothing and the tenant filter refuses to run', async () => {
    const em = h.org.db.em.fork();
    expect(await em.find(MembershipRecord, {}, { filters: false })).toEqual([]);
    expect(await em.find(OrganizationRecord, {}, { filters: false })).toEqual([]);
    await expect(em.find(MembershipRecord, {})).rejects.toThrow(/tenant/);
  });

  it("refuses to write a row of another org, and to update or delete another org's rows", async () => {
    const em = forkForOrg(h.org.db.em, orgA.id);
    const now = new Date();
    em.create(MembershipRecord, { id: randomUUID(), orgId: orgB.id, userId: alice.id, role: 'OWNER', version: 1, createdAt: now, updatedAt: now });
    await expect(em.flush()).rejects.toThrow(/row-level security/);
    const other = forkForOrg(h.org.db.em, orgA.id);
    expect(await other.nativeUpdate(MembershipRecord, { orgId: orgB.id }, { role: 'VIEWER' }, { filters: false })).toBe(0);
    expect(await other.nativeDelete(InvitationRecord, { id: idOf(invitationB) }, { filters: false })).toBe(0);
    expect(await forkForOrg(h.org.db.em, orgB.id).count(MembershipRecord, { role: 'OWNER' })).toBe(1);
  });
});

describe('cross-org attempts with real ids from another org', () => {
  it("an OWNER of one org gets NOT_FOUND for everything under another org (gRPC)", async () => {
    const bobMember = `${orgB.name}/members/${bob.id}`;
    const attempts: (() => Promise<unknown>)[] = [
      () => call(h, (c) => c.getOrganization, { name: orgB.name }, alice),
      () => call(h, (c) => c.listMembers, { parent: orgB.name, pageSize: 0, pageToken: '' }, alice),
      () => call(h, (c) => c.updateOrganization, { organization: { name: orgB.name, displayName: 'Mine now', etag: '' }, updateMask: [] }, alice),
      () => call(h, (c) => c.deleteOrganization, { name: orgB.name, etag: '' }, alice),
      () => call(h, (c) => c.updateMember, { member: { name: bobMember, role: Role.ROLE_VIEWER, user: '', email: '', displayName: '', etag: '' }, updateMask: [] }, alice),
      () => call(h, (c) => c.deleteMember, { name: bobMember }, alice),
      () => call(h, (c) => c.listInvitations, { parent: orgB.name, pageSize: 0, pageToken: '' }, alice),
      () => call(h, (c) => c.deleteInvitation, { name: invitationB }, alice),
      () => invite(h, orgB.name, alice, alice.email, Role.ROLE_OWNER),
      // Another org's ids under one's own org name.
      () => call(h, (c) => c.deleteInvitation, { name: `${orgA.name}/invitations/${idOf(invitationB)}` }, alice),
      () => call(h, (c) => c.deleteMember, { name: `${orgA.name}/members/${bob.id}` }, alice),
      () => call(h, (c) => c.updateMember, { member: { name: `${orgA.name}/members/${bob.id}`, role: Role.ROLE_VIEWER, user: '', email: '', displayName: '', etag: '' }, updateMask: [] }, alice),
    ];
    for (const attempt of attempts) expect(status[(await failure(attempt())).code]).toBe('NOT_FOUND');
    // Nothing changed in Bob's org.
    const members = await call(h, (c) => c.listMembers, { parent: orgB.name, pageSize: 0, pageToken: '' }, bob);
    expect(members.members.map((m) => m.role).sort()).toEqual([Role.ROLE_OWNER, Role.ROLE_MEMBER].sort());
    expect((await call(h, (c) => c.getOrganization, { name: orgB.name }, bob)).organization?.displayName).toBe('Bob Ltd');
  });

  it("a token re-labelled with another org's id does not work there", async () => {
    const forged = `${Buffer.from(orgA.id.replaceAll('-', ''), 'hex').toString('base64url')}.${tokenB.split('.')[1]}`;
    const someone = await signUp(h);
    expect((await failure(call(h, (c) => c.acceptInvitation, { token: forged }, someone))).code).toBe(status.NOT_FOUND);
  });

  it('the same holds through the REST edge, and GetMembership has no route there', async () => {
    const rest = (method: string, path: string, who?: TestUser, body?: unknown) =>
      fetch(`${h.url}${path}`, {
        method,
        headers: { ...(who ? { authorization: `Bearer ${who.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    const mine = await rest('GET', `/v1/${orgA.name}`, alice);
    expect(mine.status).toBe(200);
    expect(((await mine.json()) as { organization: { displayName: string } }).organization.displayName).toBe('Alice Inc');
    for (const [method, path, body] of [
      ['GET', `/v1/${orgB.name}`],
      ['GET', `/v1/${orgB.name}/members`],
      ['PATCH', `/v1/${orgB.name}?updateMask=displayName`, { displayName: 'Mine now' }],
      ['DELETE', `/v1/${orgB.name}`],
      ['PATCH', `/v1/${orgB.name}/members/${bob.id}`, { role: 'ROLE_VIEWER' }],
      ['DELETE', `/v1/${orgB.name}/members/${bob.id}`],
      ['DELETE', `/v1/${invitationB}`],
      ['DELETE', `/v1/${orgA.name}/invitations/${idOf(invitationB)}`],
    ] as [string, string, unknown?][]) {
      const res = await rest(method, path, alice, body);
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
      expect(((await res.json()) as { code: number }).code).toBe(status.NOT_FOUND);
    }
    expect((await rest('GET', `/v1/${orgA.name}`)).status).toBe(401);
    const created = await rest('POST', '/v1/organizations', bob, { displayName: 'Via REST' });
    expect(created.status).toBe(200);
    // GetMembership is internal: no HTTP binding, so no path reaches it.
    const probe = await rest('GET', `/v1/${orgB.name}/members/${bob.id}`, alice);
    expect(probe.status).toBe(404);
    const anyRoute = await rest('POST', '/taskmesh.org.v1.OrgService/GetMembership', undefined, { organization: orgB.name, user: `users/${bob.id}` });
    expect(anyRoute.status).toBe(404);
  });
});

describe('org routes of API.md through the REST edge', () => {
  const rest = async (method: string, path: string, who?: TestUser, body?: unknown) => {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: { ...(who ? { authorization: `Bearer ${who.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  it('create, list, invite, accept, list members, change a role, leave, delete', async () => {
    const owner = await signUp(h, 'rest-owner');
    const invitee = await signUp(h, 'rest-invitee');
    const created = await rest('POST', '/v1/organizations', owner, { displayName: 'REST Org' });
    expect(created.status).toBe(200);
    const name = created.body.organization.name as string;
    expect((await rest('GET', '/v1/organizations', owner)).body.organizations.map((o: { name: string }) => o.name)).toEqual([name]);

    const invited = await rest('POST', `/v1/${name}/invitations`, owner, { email: invitee.email.toUpperCase(), role: 'ROLE_MEMBER' });
    expect(invited.status).toBe(200);
    expect(invited.body.invitation.role).toBe('ROLE_MEMBER');
    expect((await rest('GET', `/v1/${name}/invitations`, owner)).body.invitations).toHaveLength(1);
    const accepted = await rest('POST', '/v1/invitations:accept', invitee, { token: invited.body.token });
    expect(accepted.status).toBe(200);
    expect(accepted.body.member).toMatchObject({ user: `users/${invitee.id}`, role: 'ROLE_MEMBER', email: invitee.email });

    const members = await rest('GET', `/v1/${name}/members?pageSize=10`, invitee);
    expect(members.body.members.map((m: { email: string; displayName: string; role: string }) => [m.email, m.role])).toEqual([
      [owner.email, 'ROLE_OWNER'],
      [invitee.email, 'ROLE_MEMBER'],
    ]);
    expect(members.body.members[1].displayName).toMatch(/^rest-invitee/);
    expect((await rest('GET', `/v1/${name}/members?pageSize=-1`, invitee)).status).toBe(400);

    const memberPath = `/v1/${name}/members/${invitee.id}`;
    expect((await rest('PATCH', `${memberPath}?updateMask=role`, invitee, { role: 'ROLE_ADMIN' })).status).toBe(403);
    const changed = await rest('PATCH', `${memberPath}?updateMask=role`, owner, { role: 'ROLE_VIEWER' });
    expect(changed.body.member.role).toBe('ROLE_VIEWER');
    const stale = await rest('PATCH', `/v1/${name}?updateMask=displayName`, owner, { displayName: 'X', etag: 'v0' });
    expect(stale.status).toBe(409);
    expect((await rest('DELETE', memberPath, invitee)).status).toBe(200);
    expect((await rest('GET', `/v1/${name}`, invitee)).status).toBe(404);
    expect((await rest('DELETE', `/v1/${name}/members/${owner.id}`, owner)).status).toBe(400);
    expect((await rest('DELETE', `/v1/${name}`, owner)).status).toBe(200);
    expect((await rest('GET', `/v1/${name}`, owner)).status).toBe(404);
  });
});

