import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvitationCreated, MemberAdded, MemberRoleChanged, OrganizationUpdated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { InvitationRecord, MembershipRecord, OrganizationRecord } from '../src/db/entities.ts';
import { addMember, call, codeOf, createOrg, failure, invite, reasonOf, Role, signUp, startHarness, type Harness, type TestUser } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Outbox rows of one org, oldest first (read bound to that org, as the service does). */
async function eventsOf(orgId: string): Promise<OutboxEvent[]> {
  return h.org.db.em.fork().find(OutboxEvent, { organization: `organizations/${orgId}` }, { orderBy: { seq: 'asc' } });
}

const members = async (orgName: string, who: TestUser) =>
  (await call(h, (c) => c.listMembers, { parent: orgName, pageSize: 0, pageToken: '' }, who)).members;

describe('org service', () => {
  describe('organizations', () => {
    it('creates an organization whose creator is its OWNER, recording OrganizationCreated and MemberAdded', async () => {
      const owner = await signUp(h, 'owner');
      const org = await createOrg(h, owner, '  Acme Corp ');
      const got = await call(h, (c) => c.getOrganization, { name: org.name }, owner);
      expect(got.organization?.displayName).toBe('Acme Corp');
      expect(got.organization?.etag).toBeTruthy();
      const list = await members(org.name, owner);
      expect(list).toHaveLength(1);
      expect(list[0]).toMatchObject({ user: `users/${owner.id}`, role: Role.ROLE_OWNER, email: owner.email, name: `${org.name}/members/${owner.id}` });
      const events = await eventsOf(org.id);
      expect(events.map((e) => e.type)).toEqual(['taskmesh.org.v1.OrganizationCreated', 'taskmesh.org.v1.MemberAdded']);
      expect(MemberAdded.decode(events[1]!.payload)).toMatchObject({ user: `users/${owner.id}`, role: Role.ROLE_OWNER });
      expect(events[0]!.actor).toBe(`users/${owner.id}`);
    });

    it('rejects an empty or over-long display name with a field violation', async () => {
      const owner = await signUp(h);
      for (const displayName of ['  ', 'x'.repeat(101)]) {
        const err = await failure(call(h, (c) => c.createOrganization, { organization: { displayName, name: '', etag: '' }, requestId: '' }, owner));
        expect(err.code).toBe(status.INVALID_ARGUMENT);
      }
    });

    it('returns the first result for a retried create with the same request id', async () => {
      const owner = await signUp(h);
      const req = { organization: { displayName: 'Once', name: '', etag: '' }, requestId: crypto.randomUUID() };
      const first = await call(h, (c) => c.createOrganization, req, owner);
      const second = await call(h, (c) => c.createOrganization, req, owner);
      expect(second.organization?.name).toBe(first.organization?.name);
      const mine = await call(h, (c) => c.listOrganizations, { pageSize: 0, pageToken: '' }, owner);
      expect(mine.organizations.map((o) => o.name)).toEqual([first.organization?.name]);
    });

    it("lists only the caller's organizations, oldest first, page by page", async () => {
      const user = await signUp(h);
      const other = await signUp(h);
      const a = await createOrg(h, user, 'A');
      const b = await createOrg(h, other, 'B');
      const c = await createOrg(h, user, 'C');
      await addMember(h, b.name, other, user, Role.ROLE_VIEWER);
      await createOrg(h, other, 'D (not mine)');
      const first = await call(h, (cl) => cl.listOrganizations, { pageSize: 2, pageToken: '' }, user);
      expect(first.organizations.map((o) => o.name)).toEqual([a.name, b.name]);
      const second = await call(h, (cl) => cl.listOrganizations, { pageSize: 2, pageToken: first.nextPageToken }, user);
      expect(second.organizations.map((o) => o.name)).toEqual([c.name]);
      expect(second.nextPageToken).toBe('');
      expect((await failure(call(h, (cl) => cl.listOrganizations, { pageSize: -1, pageToken: '' }, user))).code).toBe(status.INVALID_ARGUMENT);
    });

    it('updates with an update mask, records the field changes, and rejects a stale etag with ABORTED', async () => {
      const owner = await signUp(h);
      const org = await createOrg(h, owner, 'Before');
      const { organization } = await call(h, (c) => c.getOrganization, { name: org.name }, owner);
      const updated = await call(
        h,
        (c) => c.updateOrganization,
        { organization: { ...organization!, displayName: 'After' }, updateMask: ['display_name'] },
        owner,
      );
      expect(updated.organization?.displayName).toBe('After');
      expect(updated.organization?.etag).not.toBe(organization?.etag);
      const stale = await failure(
        call(h, (c) => c.updateOrganization, { organization: { ...organization!, displayName: 'Lost' }, updateMask: ['displayName'] }, owner),
      );
      expect(stale.code).toBe(status.ABORTED);
      const badMask = await failure(call(h, (c) => c.updateOrganization, { organization: { ...organization!, etag: '' }, updateMask: ['create_time'] }, owner));
      expect(badMask.code).toBe(status.INVALID_ARGUMENT);
      const events = await eventsOf(org.id);
      const change = OrganizationUpdated.decode(events.find((e) => e.type.endsWith('OrganizationUpdated'))!.payload);
      expect(change.changes).toEqual([{ field: 'display_name', oldValue: 'Before', newValue: 'After' }]);
    });

    it('soft-deletes: the org and everything under it answer NOT_FOUND, it leaves the lists, and GetMembership says NOT_FOUND', async () => {
      const owner = await signUp(h);
      const member = await signUp(h);
      const org = await createOrg(h, owner);
      await addMember(h, org.name, owner, member, Role.ROLE_MEMBER);
      const { token } = await invite(h, org.name, owner, 'late@example.com', Role.ROLE_VIEWER);
      await call(h, (c) => c.deleteOrganization, { name: org.name, etag: '' }, owner);
      for (const who of [owner, member]) {
        expect((await failure(call(h, (c) => c.getOrganization, { name: org.name }, who))).code).toBe(status.NOT_FOUND);
        expect((await failure(members(org.name, who))).code).toBe(status.NOT_FOUND);
        const mine = await call(h, (c) => c.listOrganizations, { pageSize: 0, pageToken: '' }, who);
        expect(mine.organizations.map((o) => o.name)).not.toContain(org.name);
      }
      expect((await failure(call(h, (c) => c.getMembership, { organization: org.name, user: `users/${owner.id}` }))).code).toBe(status.NOT_FOUND);
      const late = await signUp(h);
      expect((await failure(call(h, (c) => c.acceptInvitation, { token }, late))).code).toBe(status.NOT_FOUND);
      expect((await eventsOf(org.id)).at(-1)?.type).toBe('taskmesh.org.v1.OrganizationDeleted');
    });

    it('purges deleted organizations once the retention has passed, and not before', async () => {
      const owner = await signUp(h);
      const org = await createOrg(h, owner);
      await invite(h, org.name, owner, 'pending@example.com', Role.ROLE_MEMBER);
      const rows = async () => {
        const em = forkForOrg(h.org.db.em, org.id);
        return [await em.count(OrganizationRecord, { id: org.id }), await em.count(MembershipRecord, {}), await em.count(InvitationRecord, {})];
      };
      await call(h, (c) => c.deleteOrganization, { name: org.name, etag: '' }, owner);
      await h.org.purge.purgeDue(new Date());
      expect(await rows()).toEqual([1, 1, 1]);
      await h.org.purge.purgeDue(new Date(Date.now() + 31 * 86_400_000));
      expect(await rows()).toEqual([0, 0, 0]);
    });
  });

  describe('GetMembership (internal)', () => {
    it("returns a member's role and NOT_FOUND for a non-member", async () => {
      const owner = await signUp(h);
      const stranger = await signUp(h);
      const org = await createOrg(h, owner);
      const res = await call(h, (c) => c.getMembership, { organization: org.name, user: `users/${owner.id}` });
      expect(res.membership).toEqual({
        organization: org.name,
        user: `users/${owner.id}`,
        role: Role.ROLE_OWNER,
        member: `${org.name}/members/${owner.id}`,
        organizationSuspended: false,
      });
      expect((await failure(call(h, (c) => c.getMembership, { organization: org.name, user: `users/${stranger.id}` }))).code).toBe(status.NOT_FOUND);
      expect((await failure(call(h, (c) => c.getMembership, { organization: 'nope', user: `users/${owner.id}` }))).code).toBe(status.INVALID_ARGUMENT);
    });
  });

  describe('members', () => {
    it('the last OWNER can neither leave nor be demoted nor removed (FAILED_PRECONDITION); with a second OWNER both work', async () => {
      const owner = await signUp(h);
      const second = await signUp(h);
      const org = await createOrg(h, owner);
      const self = `${org.name}/members/${owner.id}`;
      const leave = await failure(call(h, (c) => c.deleteMember, { name: self }, owner));
      expect(leave.code).toBe(status.FAILED_PRECONDITION);
      expect(reasonOf(leave)).toBe('LAST_OWNER');
      const demote = await failure(call(h, (c) => c.updateMember, { member: memberMsg(self, Role.ROLE_ADMIN), updateMask: ['role'] }, owner));
      expect(demote.code).toBe(status.FAILED_PRECONDITION);
      await addMember(h, org.name, owner, second, Role.ROLE_OWNER);
      const demoted = await call(h, (c) => c.updateMember, { member: memberMsg(self, Role.ROLE_ADMIN), updateMask: ['role'] }, owner);
      expect(demoted.member?.role).toBe(Role.ROLE_ADMIN);
      const events = await eventsOf(org.id);
      expect(MemberRoleChanged.decode(events.at(-1)!.payload)).toMatchObject({ oldRole: Role.ROLE_OWNER, newRole: Role.ROLE_ADMIN });
      // Now `second` is the last OWNER.
      expect((await failure(call(h, (c) => c.deleteMember, { name: `${org.name}/members/${second.id}` }, second))).code).toBe(status.FAILED_PRECONDITION);
      await call(h, (c) => c.deleteMember, { name: self }, owner);
      expect((await failure(call(h, (c) => c.getOrganization, { name: org.name }, owner))).code).toBe(status.NOT_FOUND);
      expect(events.length + 1).toBe((await eventsOf(org.id)).length);
    });

    it('two OWNERs demoting each other at the same time: exactly one succeeds, one OWNER remains', async () => {
      const a = await signUp(h);
      const b = await signUp(h);
      const org = await createOrg(h, a);
      await addMember(h, org.name, a, b, Role.ROLE_OWNER);
      const demote = (who: TestUser, target: TestUser) =>
        codeOf(call(h, (c) => c.updateMember, { member: memberMsg(`${org.name}/members/${target.id}`, Role.ROLE_MEMBER), updateMask: ['role'] }, who));
      const codes = await Promise.all([demote(a, b), demote(b, a)]);
      expect(codes.filter((c) => c === status.OK)).toHaveLength(1);
      // The loser was refused as no longer OWNER (by the chain or, if it had passed it, under the lock) or
      // because the winner is now the last OWNER, depending on how the two interleaved.
      expect([status.PERMISSION_DENIED, status.ABORTED, status.FAILED_PRECONDITION]).toContain(codes.find((c) => c !== status.OK));
      const roles = (await members(org.name, a)).map((m) => m.role);
      expect(roles.filter((r) => r === Role.ROLE_OWNER)).toHaveLength(1);
    });

    it('an ADMIN manages MEMBER and VIEWER only, and cannot grant ADMIN or OWNER', async () => {
      const owner = await signUp(h);
      const admin = await signUp(h);
      const member = await signUp(h);
      const otherAdmin = await signUp(h);
      const org = await createOrg(h, owner);
      await addMember(h, org.name, owner, admin, Role.ROLE_ADMIN);
      await addMember(h, org.name, owner, member, Role.ROLE_MEMBER);
      await addMember(h, org.name, owner, otherAdmin, Role.ROLE_ADMIN);
      const memberName = `${org.name}/members/${member.id}`;
      expect((await call(h, (c) => c.updateMember, { member: memberMsg(memberName, Role.ROLE_VIEWER), updateMask: [] }, admin)).member?.role).toBe(Role.ROLE_VIEWER);
      for (const role of [Role.ROLE_ADMIN, Role.ROLE_OWNER]) {
        expect((await failure(call(h, (c) => c.updateMember, { member: memberMsg(memberName, role), updateMask: [] }, admin))).code).toBe(status.PERMISSION_DENIED);
      }
      const adminName = `${org.name}/members/${otherAdmin.id}`;
      expect((await failure(call(h, (c) => c.updateMember, { member: memberMsg(adminName, Role.ROLE_MEMBER), updateMask: [] }, admin))).code).toBe(status.PERMISSION_DENIED);
      expect((await failure(call(h, (c) => c.deleteMember, { name: adminName }, admin))).code).toBe(status.PERMISSION_DENIED);
      await call(h, (c) => c.deleteMember, { name: memberName }, admin);
      expect((await members(org.name, owner)).map((m) => m.user)).not.toContain(`users/${member.id}`);
      expect((await failure(call(h, (c) => c.getOrganization, { name: org.name }, member))).code).toBe(status.NOT_FOUND);
    });

    it('rejects a stale member etag with ABORTED and an unspecified role with INVALID_ARGUMENT', async () => {
      const owner = await signUp(h);
      const member = await signUp(h);
      const org = await createOrg(h, owner);
      await addMember(h, org.name, owner, member, Role.ROLE_MEMBER);
      const name = `${org.name}/members/${member.id}`;
      const before = (await members(org.name, owner)).find((m) => m.name === name)!;
      await call(h, (c) => c.updateMember, { member: { ...before, role: Role.ROLE_VIEWER }, updateMask: ['role'] }, owner);
      expect((await failure(call(h, (c) => c.updateMember, { member: { ...before, role: Role.ROLE_ADMIN }, updateMask: ['role'] }, owner))).code).toBe(status.ABORTED);
      expect((await failure(call(h, (c) => c.updateMember, { member: memberMsg(name, Role.ROLE_UNSPECIFIED), updateMask: [] }, owner))).code).toBe(status.INVALID_ARGUMENT);
    });
  });

  describe('invitations', () => {
    it('mails the token, lists the invitation as pending, and accepting (e-mail case-insensitive) makes a member once', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h, 'Invitee');
      const org = await createOrg(h, owner, 'Mailers');
      const created = await invite(h, org.name, owner, invitee.email.toUpperCase(), Role.ROLE_MEMBER);
      expect(created.token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
      expect(created.invitation).toMatchObject({ role: Role.ROLE_MEMBER, inviter: `users/${owner.id}` });
      expect(created.invitation!.expireTime!.getTime() - created.invitation!.createTime!.getTime()).toBe(7 * 86_400_000);
      const mail = h.mails.find((m) => m.to === invitee.email.toUpperCase());
      expect(mail?.text).toContain(created.token);
      expect(mail?.subject).toContain('Mailers');
      // Stored hashed only.
      const stored = await forkForOrg(h.org.db.em, org.id).findOneOrFail(InvitationRecord, { id: created.invitation!.name.split('/').at(-1)! });
      expect(stored.tokenHash).not.toContain(created.token.split('.')[1]);
      const pending = await call(h, (c) => c.listInvitations, { parent: org.name, pageSize: 0, pageToken: '' }, owner);
      expect(pending.invitations.map((i) => i.name)).toEqual([created.invitation!.name]);

      const accepted = await call(h, (c) => c.acceptInvitation, { token: created.token }, invitee);
      expect(accepted.member).toMatchObject({ user: `users/${invitee.id}`, role: Role.ROLE_MEMBER, email: invitee.email });
      const again = await failure(call(h, (c) => c.acceptInvitation, { token: created.token }, invitee));
      expect(again.code).toBe(status.FAILED_PRECONDITION);
      expect(reasonOf(again)).toBe('INVITATION_ALREADY_USED');
      expect((await call(h, (c) => c.listInvitations, { parent: org.name, pageSize: 0, pageToken: '' }, owner)).invitations).toEqual([]);
      const types = (await eventsOf(org.id)).map((e) => e.type.split('.').at(-1));
      expect(types.slice(-3)).toEqual(['InvitationCreated', 'InvitationAccepted', 'MemberAdded']);
    });

    it('refuses a signed-in user with another e-mail (PERMISSION_DENIED) and an anonymous caller (UNAUTHENTICATED)', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const intruder = await signUp(h);
      const org = await createOrg(h, owner);
      const { token } = await invite(h, org.name, owner, invitee.email, Role.ROLE_ADMIN);
      const wrong = await failure(call(h, (c) => c.acceptInvitation, { token }, intruder));
      expect(wrong.code).toBe(status.PERMISSION_DENIED);
      expect(reasonOf(wrong)).toBe('INVITATION_EMAIL_MISMATCH');
      expect((await failure(call(h, (c) => c.acceptInvitation, { token }))).code).toBe(status.UNAUTHENTICATED);
      // Still usable by the right person.
      await call(h, (c) => c.acceptInvitation, { token }, invitee);
    });

    it('two concurrent accepts of one token: exactly one makes a member', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const org = await createOrg(h, owner);
      const { token } = await invite(h, org.name, owner, invitee.email, Role.ROLE_MEMBER);
      const codes = await Promise.all([1, 2].map(() => codeOf(call(h, (c) => c.acceptInvitation, { token }, invitee))));
      expect(codes.filter((c) => c === status.OK)).toHaveLength(1);
      expect((await members(org.name, owner)).filter((m) => m.user === `users/${invitee.id}`)).toHaveLength(1);
    });

    it('an expired invitation fails with FAILED_PRECONDITION and is no longer listed', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const org = await createOrg(h, owner);
      const { token, invitation } = await invite(h, org.name, owner, invitee.email, Role.ROLE_MEMBER);
      // Time travel: move this invitation's expiry into the past, bound to its org like the service.
      await forkForOrg(h.org.db.em, org.id).nativeUpdate(InvitationRecord, { id: invitation!.name.split('/').at(-1)! }, { expiresAt: new Date(Date.now() - 1000) });
      const err = await failure(call(h, (c) => c.acceptInvitation, { token }, invitee));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(reasonOf(err)).toBe('INVITATION_EXPIRED');
      expect((await call(h, (c) => c.listInvitations, { parent: org.name, pageSize: 0, pageToken: '' }, owner)).invitations).toEqual([]);
    });

    it('a revoked invitation stops working; revoking twice is NOT_FOUND', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const org = await createOrg(h, owner);
      const { token, invitation } = await invite(h, org.name, owner, invitee.email, Role.ROLE_MEMBER);
      await call(h, (c) => c.deleteInvitation, { name: invitation!.name }, owner);
      const err = await failure(call(h, (c) => c.acceptInvitation, { token }, invitee));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(reasonOf(err)).toBe('INVITATION_REVOKED');
      expect((await failure(call(h, (c) => c.deleteInvitation, { name: invitation!.name }, owner))).code).toBe(status.NOT_FOUND);
      expect((await eventsOf(org.id)).at(-1)?.type).toBe('taskmesh.org.v1.InvitationRevoked');
    });

    it('re-inviting a pending address replaces the invitation: the old token stops working, the new one works', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const org = await createOrg(h, owner);
      const first = await invite(h, org.name, owner, invitee.email, Role.ROLE_VIEWER);
      const second = await invite(h, org.name, owner, invitee.email.toUpperCase(), Role.ROLE_MEMBER);
      expect(second.invitation!.name).not.toBe(first.invitation!.name);
      const pending = await call(h, (c) => c.listInvitations, { parent: org.name, pageSize: 0, pageToken: '' }, owner);
      expect(pending.invitations.map((i) => i.name)).toEqual([second.invitation!.name]);
      const events = await eventsOf(org.id);
      expect(InvitationCreated.decode(events.at(-1)!.payload).replacedInvitation).toBe(first.invitation!.name);
      expect((await failure(call(h, (c) => c.acceptInvitation, { token: first.token }, invitee))).code).toBe(status.FAILED_PRECONDITION);
      expect((await call(h, (c) => c.acceptInvitation, { token: second.token }, invitee)).member?.role).toBe(Role.ROLE_MEMBER);
    });

    it('an existing member accepting gets ALREADY_EXISTS; malformed and unknown tokens are INVALID_ARGUMENT and NOT_FOUND', async () => {
      const owner = await signUp(h);
      const member = await signUp(h);
      const org = await createOrg(h, owner);
      await addMember(h, org.name, owner, member, Role.ROLE_MEMBER);
      const { token } = await invite(h, org.name, owner, member.email, Role.ROLE_ADMIN);
      expect((await failure(call(h, (c) => c.acceptInvitation, { token }, member))).code).toBe(status.ALREADY_EXISTS);
      expect((await failure(call(h, (c) => c.acceptInvitation, { token: 'garbage' }, member))).code).toBe(status.INVALID_ARGUMENT);
      const unknown = `${token.split('.')[0]}.${'A'.repeat(43)}`;
      expect((await failure(call(h, (c) => c.acceptInvitation, { token: unknown }, member))).code).toBe(status.NOT_FOUND);
    });

    it('a retried create with the same request id returns the same invitation with a fresh token; only the newest token works', async () => {
      const owner = await signUp(h);
      const invitee = await signUp(h);
      const org = await createOrg(h, owner);
      const req = {
        parent: org.name,
        invitation: { name: '', email: invitee.email, role: Role.ROLE_MEMBER, inviter: '', createTime: undefined, expireTime: undefined },
        requestId: crypto.randomUUID(),
      };
      const first = await call(h, (c) => c.createInvitation, req, owner);
      const retry = await call(h, (c) => c.createInvitation, req, owner);
      expect(retry.invitation?.name).toBe(first.invitation?.name);
      expect(retry.token).not.toBe(first.token);
      expect(h.mails.filter((m) => m.to === invitee.email)).toHaveLength(2);
      expect((await failure(call(h, (c) => c.acceptInvitation, { token: first.token }, invitee))).code).toBe(status.NOT_FOUND);
      await call(h, (c) => c.acceptInvitation, { token: retry.token }, invitee);
    });

    it('an ADMIN may invite ADMIN, MEMBER and VIEWER but not OWNER, nor revoke an OWNER invitation', async () => {
      const owner = await signUp(h);
      const admin = await signUp(h);
      const org = await createOrg(h, owner);
      await addMember(h, org.name, owner, admin, Role.ROLE_ADMIN);
      for (const role of [Role.ROLE_ADMIN, Role.ROLE_MEMBER, Role.ROLE_VIEWER]) await invite(h, org.name, admin, `r${role}-${Date.now()}@example.com`, role);
      expect((await failure(invite(h, org.name, admin, 'boss@example.com', Role.ROLE_OWNER))).code).toBe(status.PERMISSION_DENIED);
      const ownerInvite = await invite(h, org.name, owner, 'boss@example.com', Role.ROLE_OWNER);
      expect((await failure(call(h, (c) => c.deleteInvitation, { name: ownerInvite.invitation!.name }, admin))).code).toBe(status.PERMISSION_DENIED);
      expect((await failure(invite(h, org.name, owner, 'not-an-address', Role.ROLE_MEMBER))).code).toBe(status.INVALID_ARGUMENT);
      expect((await failure(invite(h, org.name, owner, 'x@example.com', Role.ROLE_UNSPECIFIED))).code).toBe(status.INVALID_ARGUMENT);
    });
  });
});

function memberMsg(name: string, role: Role) {
  return { name, role, user: '', email: '', displayName: '', etag: '', createTime: undefined, updateTime: undefined };
}
