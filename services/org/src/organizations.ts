import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import {
  InvitationAccepted,
  InvitationCreated,
  InvitationRevoked,
  MemberAdded,
  MemberRemoved,
  MemberRoleChanged,
  OrganizationCreated,
  OrganizationDeleted,
  OrganizationUpdated,
} from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { emailViolation, normalizeEmail } from '@taskmesh/runtime/email-addresses';
import {
  AbortedError,
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  UnauthenticatedError,
  type FieldViolation,
} from '@taskmesh/runtime/errors';
import type { Mailer } from '@taskmesh/runtime/mail';
import { roleToProto, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { domainEvent, recordEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { digestToken } from '@taskmesh/runtime/secret-tokens';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { ApiTokenRecord, InvitationRecord, MembershipRecord, OrganizationRecord } from './db/entities.ts';
import { newInvitationToken, orgIdOfInvitationToken } from './domain/invitation-token.ts';
import { assertKeepsAnOwner, assertMayInviteAs, assertMayManage } from './domain/member-rules.ts';
import { etagOf, orgDisplayNameViolation } from './domain/organization-rules.ts';
import type { IdentityDirectory, UserProfile } from './identity-directory.ts';

export interface OrganizationSettings {
  invitationTtlSeconds: number;
  /** Base URL of the web app, for the link in the invitation mail. */
  appBaseUrl: string;
}

/** Told after a membership or organization changed, so the process's membership cache drops it at once. */
export interface MembershipChangeListener {
  evict(orgId: string, userId: string): void;
  evictOrganization(orgId: string): void;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

export interface MemberView {
  membership: MembershipRecord;
  profile: UserProfile | undefined;
}

type TimeKey = [string, string];
const keyOfRow = (time: Date, id: string): TimeKey => [time.toISOString(), id];
/** Keyset condition "after (time, id)" in ascending order. */
function after(key: TimeKey | undefined, timeField: string, idField: string): object {
  if (!key) return {};
  const time = new Date(key[0]);
  if (Number.isNaN(time.getTime()) || typeof key[1] !== 'string') {
    throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
  }
  return { $or: [{ [timeField]: { $gt: time } }, { [timeField]: time, [idField]: { $gt: key[1] } }] };
}

const orgName = (orgId: string) => `organizations/${orgId}`;
const memberName = (orgId: string, userId: string) => `organizations/${orgId}/members/${userId}`;
const invitationName = (orgId: string, id: string) => `organizations/${orgId}/invitations/${id}`;
const userName = (userId: string) => `users/${userId}`;

function assertValid(...violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length > 0) throw new InvalidArgumentError(found);
}

/**
 * The org service's use cases. Tenant use cases run on the TenantContext's EntityManager (bound to the org by
 * the org-context chain); the few that start without an org bind one themselves (forkForOrg) or use the
 * documented user scope. Calls to identity happen before any transaction opens.
 */
export class Organizations {
  constructor(
    private readonly em: EntityManager,
    private readonly identity: IdentityDirectory,
    private readonly mailer: Mailer,
    private readonly memberships: MembershipChangeListener,
    private readonly settings: OrganizationSettings,
    private readonly log: Logger,
  ) {}

  /**
   * The one cross-org read scope: the caller's own memberships and the organizations they belong to, as the
   * RLS policies allow with app.user_id set. The tenant filter is off only for queries made here.
   */
  private userScope(userId: string): EntityManager {
    const em = this.em.fork({ clear: true });
    em.setSessionContext({ variables: { 'app.user_id': userId } });
    return em;
  }

  // ---- organizations ----

  async createOrganization(principal: Principal, input: { displayName: string; requestId: string }): Promise<OrganizationRecord> {
    assertValid(orgDisplayNameViolation(input.displayName, 'organization.display_name'));
    const requestId = input.requestId.trim() || null;
    if (requestId) {
      const earlier = await this.organizationCreatedWith(principal.userId, requestId);
      if (earlier) return earlier;
    }
    const id = randomUUID();
    const em = forkForOrg(this.em, id);
    const now = new Date();
    try {
      return await em.transactional(async (tx) => {
        const org = tx.create(OrganizationRecord, {
          id,
          orgId: id,
          displayName: input.displayName.trim(),
          version: 1,
          createdBy: principal.userId,
          createRequestId: requestId,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        // Plain id columns, not ORM relations: the unit of work can't order the inserts, so the org goes first.
        await tx.flush();
        tx.create(MembershipRecord, {
          id: randomUUID(),
          orgId: id,
          userId: principal.userId,
          role: 'OWNER',
          version: 1,
          createdAt: now,
          updatedAt: now,
        });
        const actor = userName(principal.userId);
        recordEvent(tx, orgEvent('OrganizationCreated', OrganizationCreated, { organization: toOrgEventMessage(org) }, id, orgName(id), actor));
        recordEvent(
          tx,
          orgEvent(
            'MemberAdded',
            MemberAdded,
            { member: memberName(id, principal.userId), user: actor, role: roleToProto('OWNER'), invitation: '' },
            id,
            memberName(id, principal.userId),
            actor,
          ),
        );
        await tx.flush();
        return org;
      });
    } catch (err) {
      // A concurrent retry with the same request id won the race: answer with its result.
      if (requestId && err instanceof UniqueConstraintViolationException) {
        const earlier = await this.organizationCreatedWith(principal.userId, requestId);
        if (earlier) return earlier;
      }
      throw err;
    }
  }

  private async organizationCreatedWith(userId: string, requestId: string): Promise<OrganizationRecord | null> {
    return this.userScope(userId).findOne(
      OrganizationRecord,
      { createdBy: userId, createRequestId: requestId, deletedAt: null },
      { filters: { tenant: false } },
    );
  }

  async listOrganizations(principal: Principal, page: { pageSize: number; pageToken: string }): Promise<Page<OrganizationRecord>> {
    const size = pageSizeOf(page.pageSize);
    const query = `orgs:${principal.userId}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const em = this.userScope(principal.userId);
    const mine = await em.find(MembershipRecord, { userId: principal.userId }, { fields: ['orgId'], filters: { tenant: false } });
    if (mine.length === 0) return { items: [], nextPageToken: '' };
    const rows = await em.find(
      OrganizationRecord,
      { id: { $in: mine.map((m) => m.orgId) }, deletedAt: null, ...after(cursor, 'createdAt', 'id') },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1, filters: { tenant: false } },
    );
    return pageOf(rows, size, (o) => keyOfRow(o.createdAt, o.id), query);
  }

  async getOrganization(tc: TenantContext): Promise<OrganizationRecord> {
    const org = await tc.em.findOne(OrganizationRecord, { id: tc.org.id, deletedAt: null });
    if (!org) throw new NotFoundError(tc.org.name);
    return org;
  }

  async updateOrganization(tc: TenantContext, changes: { displayName?: string }, etag: string): Promise<OrganizationRecord> {
    if (changes.displayName !== undefined) {
      assertValid(orgDisplayNameViolation(changes.displayName, 'organization.display_name'));
    }
    return tc.em.transactional(async (tx) => {
      const org = await this.lockedOrganization(tx, tc);
      if (etag && etag !== etagOf(org.version)) throw staleEtag(tc.org.name);
      const fieldChanges = [];
      const displayName = changes.displayName?.trim();
      if (displayName !== undefined && displayName !== org.displayName) {
        fieldChanges.push({ field: 'display_name', oldValue: org.displayName, newValue: displayName });
        org.displayName = displayName;
      }
      if (fieldChanges.length === 0) return org;
      org.version += 1;
      org.updatedAt = new Date();
      recordEvent(
        tx,
        orgEvent('OrganizationUpdated', OrganizationUpdated, { organization: toOrgEventMessage(org), changes: fieldChanges }, org.id, tc.org.name, userName(tc.principal.userId)),
      );
      await tx.flush();
      return org;
    });
  }

  async deleteOrganization(tc: TenantContext, etag: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      const org = await this.lockedOrganization(tx, tc);
      if (etag && etag !== etagOf(org.version)) throw staleEtag(tc.org.name);
      org.deletedAt = new Date();
      org.updatedAt = org.deletedAt;
      org.version += 1;
      recordEvent(
        tx,
        orgEvent('OrganizationDeleted', OrganizationDeleted, { organization: tc.org.name, displayName: org.displayName }, org.id, tc.org.name, userName(tc.principal.userId)),
      );
      await tx.flush();
    });
    this.memberships.evictOrganization(tc.org.id);
  }

  /**
   * Every change of an org takes this lock first, so "is this the last OWNER?" can't race. Under the lock it
   * also checks that the role the org-context chain authorized is still the caller's: a concurrent change may
   * have demoted or removed them since, and the change must not run on a stale permission.
   */
  private async lockedOrganization(tx: EntityManager, tc: TenantContext): Promise<OrganizationRecord> {
    const org = await tx.findOne(OrganizationRecord, { id: tc.org.id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (!org) throw new NotFoundError(tc.org.name);
    if (tc.principal.apiToken) {
      // An API token acts with its fixed role: it must still be live, not revoked meanwhile.
      const token = await tx.findOne(ApiTokenRecord, { id: tc.principal.apiToken.tokenId, revokedAt: null, expiresAt: { $gt: new Date() } });
      if (!token) throw new UnauthenticatedError('invalid access token', { reason: 'TOKEN_INVALID' });
      return org;
    }
    const actor = await tx.findOne(MembershipRecord, { userId: tc.principal.userId }, { refresh: true });
    if (!actor) throw new NotFoundError(tc.org.name);
    if (actor.role !== tc.role) {
      throw new AbortedError('your role in this organization changed meanwhile; retry', { reason: 'ROLE_CHANGED' });
    }
    return org;
  }

  // ---- members ----

  async listMembers(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<Page<MemberView>> {
    const size = pageSizeOf(page.pageSize);
    const query = `members:${tc.org.id}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const rows = await tc.em.find(MembershipRecord, after(cursor, 'createdAt', 'id'), {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: size + 1,
    });
    const result = pageOf(rows, size, (m) => keyOfRow(m.createdAt, m.id), query);
    const profiles = await this.identity.profiles(result.items.map((m) => m.userId));
    return {
      items: result.items.map((membership) => ({ membership, profile: profiles.get(membership.userId) })),
      nextPageToken: result.nextPageToken,
    };
  }

  async updateMember(tc: TenantContext, targetUserId: string, role: OrgRole, etag: string): Promise<MemberView> {
    const updated = await tc.em.transactional(async (tx) => {
      await this.lockedOrganization(tx, tc);
      const membership = await tx.findOne(MembershipRecord, { userId: targetUserId });
      if (!membership) throw new NotFoundError(memberName(tc.org.id, targetUserId));
      if (etag && etag !== etagOf(membership.version)) throw staleEtag(memberName(tc.org.id, targetUserId));
      const oldRole = membership.role as OrgRole;
      if (oldRole === role) return membership;
      assertMayManage(tc.role, oldRole, role);
      assertKeepsAnOwner(oldRole, role === 'OWNER', await tx.count(MembershipRecord, { role: 'OWNER' }));
      membership.role = role;
      membership.version += 1;
      membership.updatedAt = new Date();
      recordEvent(
        tx,
        orgEvent(
          'MemberRoleChanged',
          MemberRoleChanged,
          {
            member: memberName(tc.org.id, targetUserId),
            user: userName(targetUserId),
            oldRole: roleToProto(oldRole),
            newRole: roleToProto(role),
          },
          tc.org.id,
          memberName(tc.org.id, targetUserId),
          userName(tc.principal.userId),
        ),
      );
      await tx.flush();
      return membership;
    });
    this.memberships.evict(tc.org.id, targetUserId);
    const profiles = await this.identity.profiles([targetUserId]);
    return { membership: updated, profile: profiles.get(targetUserId) };
  }

  /** Removes a member, or the caller leaves when the member is the caller. */
  async deleteMember(tc: TenantContext, targetUserId: string): Promise<void> {
    const leaving = targetUserId === tc.principal.userId;
    await tc.em.transactional(async (tx) => {
      await this.lockedOrganization(tx, tc);
      const membership = await tx.findOne(MembershipRecord, { userId: targetUserId });
      if (!membership) throw new NotFoundError(memberName(tc.org.id, targetUserId));
      const role = membership.role as OrgRole;
      if (!leaving) assertMayManage(tc.role, role);
      assertKeepsAnOwner(role, false, await tx.count(MembershipRecord, { role: 'OWNER' }));
      tx.remove(membership);
      recordEvent(
        tx,
        orgEvent(
          'MemberRemoved',
          MemberRemoved,
          { member: memberName(tc.org.id, targetUserId), user: userName(targetUserId), role: roleToProto(role), left: leaving },
          tc.org.id,
          memberName(tc.org.id, targetUserId),
          userName(tc.principal.userId),
        ),
      );
      await tx.flush();
    });
    this.memberships.evict(tc.org.id, targetUserId);
  }

  // ---- invitations ----

  /**
   * Issues an invitation and mails its token. A retry with the same request id returns the same invitation
   * with a fresh token (the first one is stored only as a digest and can't be shown again; the earlier token
   * stops working and the mail is sent again).
   */
  async createInvitation(
    tc: TenantContext,
    input: { email: string; role: OrgRole | undefined; requestId: string },
  ): Promise<{ invitation: InvitationRecord; token: string }> {
    const email = input.email.trim();
    assertValid(
      emailViolation(email, 'invitation.email'),
      input.role ? undefined : { field: 'invitation.role', description: 'is required' },
    );
    const role = input.role!;
    assertMayInviteAs(tc.role, role);
    const requestId = input.requestId.trim() || null;
    const token = newInvitationToken(tc.org.id);
    const now = new Date();
    const actor = userName(tc.principal.userId);
    const { invitation, organization } = await tc.em.transactional(async (tx) => {
      const organization = await this.lockedOrganization(tx, tc);
      if (requestId) {
        const earlier = await tx.findOne(InvitationRecord, { inviterId: tc.principal.userId, createRequestId: requestId });
        if (earlier) {
          if (earlier.acceptedAt || earlier.revokedAt) return { invitation: earlier, organization };
          earlier.tokenHash = digestToken(token);
          await tx.flush();
          return { invitation: earlier, organization };
        }
      }
      const emailNormalized = normalizeEmail(email);
      const pending = await tx.findOne(InvitationRecord, { emailNormalized, acceptedAt: null, revokedAt: null });
      // Revoked by a direct UPDATE before the insert: the partial unique index allows one pending per address.
      if (pending) await tx.nativeUpdate(InvitationRecord, { id: pending.id }, { revokedAt: now });
      const id = randomUUID();
      const invitation = tx.create(InvitationRecord, {
        id,
        orgId: tc.org.id,
        email,
        emailNormalized,
        role,
        inviterId: tc.principal.userId,
        tokenHash: digestToken(token),
        createRequestId: requestId,
        createdAt: now,
        expiresAt: new Date(now.getTime() + this.settings.invitationTtlSeconds * 1000),
        acceptedAt: null,
        acceptedBy: null,
        revokedAt: null,
      });
      recordEvent(
        tx,
        orgEvent(
          'InvitationCreated',
          InvitationCreated,
          {
            invitation: toInvitationEventMessage(invitation),
            organizationDisplayName: organization.displayName,
            replacedInvitation: pending ? invitationName(tc.org.id, pending.id) : '',
          },
          tc.org.id,
          invitationName(tc.org.id, id),
          actor,
        ),
      );
      await tx.flush();
      return { invitation, organization };
    });
    if (invitation.acceptedAt || invitation.revokedAt) {
      throw new FailedPreconditionError('the invitation created with this request id is no longer pending', {
        reason: 'INVITATION_NOT_PENDING',
      });
    }
    this.mailInvitation(invitation, organization.displayName, token);
    return { invitation, token };
  }

  private mailInvitation(invitation: InvitationRecord, orgDisplayName: string, token: string): void {
    const link = `${this.settings.appBaseUrl.replace(/\/$/, '')}/invitations/accept?token=${encodeURIComponent(token)}`;
    const days = Math.round(this.settings.invitationTtlSeconds / 86_400);
    this.mailer
      .send({
        to: invitation.email,
        subject: `You're invited to ${orgDisplayName} on Taskmesh`,
        text: `You have been invited to join ${orgDisplayName} on Taskmesh as ${invitation.role}.\n\nSign in with this e-mail address and open this link to accept${days > 0 ? ` within ${days} days` : ''}:\n${link}\n\nOr use this invitation token: ${token}\n\nIf you don't know why you got this, ignore this mail.\n`,
      })
      .catch((err: unknown) => this.log.error({ err, invitation: invitation.id }, 'invitation mail failed'));
  }

  async listInvitations(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<Page<InvitationRecord>> {
    const size = pageSizeOf(page.pageSize);
    const query = `invitations:${tc.org.id}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const rows = await tc.em.find(
      InvitationRecord,
      { acceptedAt: null, revokedAt: null, expiresAt: { $gt: new Date() }, ...after(cursor, 'createdAt', 'id') },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1 },
    );
    return pageOf(rows, size, (i) => keyOfRow(i.createdAt, i.id), query);
  }

  async revokeInvitation(tc: TenantContext, invitationId: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      await this.lockedOrganization(tx, tc);
      const now = new Date();
      const invitation = await tx.findOne(InvitationRecord, { id: invitationId, acceptedAt: null, revokedAt: null, expiresAt: { $gt: now } });
      if (!invitation) throw new NotFoundError(invitationName(tc.org.id, invitationId));
      assertMayInviteAs(tc.role, invitation.role as OrgRole);
      const claimed = await tx.nativeUpdate(InvitationRecord, { id: invitation.id, acceptedAt: null, revokedAt: null }, { revokedAt: now });
      if (claimed === 0) throw new NotFoundError(invitationName(tc.org.id, invitationId));
      recordEvent(
        tx,
        orgEvent(
          'InvitationRevoked',
          InvitationRevoked,
          { invitation: invitationName(tc.org.id, invitation.id), email: invitation.email, expireTime: invitation.expiresAt },
          tc.org.id,
          invitationName(tc.org.id, invitation.id),
          userName(tc.principal.userId),
        ),
      );
    });
  }

  /**
   * Makes the caller a member. The token names its org, so the lookup runs bound to that org (both walls
   * apply); the caller's e-mail comes from identity before the transaction opens.
   */
  async acceptInvitation(principal: Principal, token: string): Promise<MemberView> {
    if (!token.trim()) throw new InvalidArgumentError({ field: 'token', description: 'is required' });
    const orgId = orgIdOfInvitationToken(token);
    if (!orgId) throw new InvalidArgumentError({ field: 'token', description: 'is not an invitation token' });
    const profile = await this.identity.profileOf(principal.userId);
    const em = forkForOrg(this.em, orgId);
    const membership = await em.transactional(async (tx) => {
      const invitation = await tx.findOne(InvitationRecord, { tokenHash: digestToken(token.trim()) });
      const org = invitation ? await tx.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE }) : null;
      if (!invitation || !org) throw new NotFoundError('invitation');
      if (invitation.revokedAt) throw new FailedPreconditionError('the invitation was revoked', { reason: 'INVITATION_REVOKED' });
      if (invitation.acceptedAt) throw new FailedPreconditionError('the invitation was already used', { reason: 'INVITATION_ALREADY_USED' });
      const now = new Date();
      if (invitation.expiresAt <= now) throw new FailedPreconditionError('the invitation has expired', { reason: 'INVITATION_EXPIRED' });
      if (normalizeEmail(profile.email) !== invitation.emailNormalized) {
        throw new PermissionDeniedError('the invitation was sent to another e-mail address', { reason: 'INVITATION_EMAIL_MISMATCH' });
      }
      if (await tx.findOne(MembershipRecord, { userId: principal.userId })) {
        throw new AlreadyExistsError('you are already a member of this organization', { reason: 'ALREADY_MEMBER' });
      }
      // Conditional claim: of two concurrent accepts with one token, exactly one wins.
      const claimed = await tx.nativeUpdate(InvitationRecord, { id: invitation.id, acceptedAt: null, revokedAt: null }, { acceptedAt: now, acceptedBy: principal.userId });
      if (claimed === 0) throw new FailedPreconditionError('the invitation was already used', { reason: 'INVITATION_ALREADY_USED' });
      const membership = tx.create(MembershipRecord, {
        id: randomUUID(),
        orgId,
        userId: principal.userId,
        role: invitation.role,
        version: 1,
        createdAt: now,
        updatedAt: now,
      });
      const actor = userName(principal.userId);
      const member = memberName(orgId, principal.userId);
      const invitationResource = invitationName(orgId, invitation.id);
      recordEvent(tx, orgEvent('InvitationAccepted', InvitationAccepted, { invitation: invitationResource, user: actor, member }, orgId, invitationResource, actor));
      recordEvent(
        tx,
        orgEvent('MemberAdded', MemberAdded, { member, user: actor, role: roleToProto(invitation.role as OrgRole), invitation: invitationResource }, orgId, member, actor),
      );
      await tx.flush();
      return membership;
    });
    this.memberships.evict(orgId, principal.userId);
    return { membership, profile };
  }

  // ---- for the other services and the chain ----

  /** The user's role in a live org, or undefined (not a member, org unknown or deleted). */
  async roleOf(orgId: string, userId: string): Promise<OrgRole | undefined> {
    const em = forkForOrg(this.em, orgId);
    const membership = await em.findOne(MembershipRecord, { userId });
    if (!membership) return undefined;
    const org = await em.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { fields: ['id'] });
    return org ? (membership.role as OrgRole) : undefined;
  }
}

function staleEtag(resource: string): AbortedError {
  return new AbortedError(`${resource} was changed by someone else; read it again and retry`, { reason: 'ETAG_MISMATCH' });
}

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
}

function orgEvent<T>(type: string, codec: Codec<T>, payload: T, orgId: string, resource: string, actor: string): DomainEvent {
  return domainEvent(`taskmesh.org.v1.${type}`, codec, payload, { resource, organization: orgName(orgId), actor });
}

function toOrgEventMessage(org: OrganizationRecord) {
  return {
    name: orgName(org.id),
    displayName: org.displayName,
    etag: etagOf(org.version),
    createTime: org.createdAt,
    updateTime: org.updatedAt,
  };
}

function toInvitationEventMessage(invitation: InvitationRecord) {
  return {
    name: invitationName(invitation.orgId, invitation.id),
    email: invitation.email,
    role: roleToProto(invitation.role as OrgRole),
    inviter: userName(invitation.inviterId),
    createTime: invitation.createdAt,
    expireTime: invitation.expiresAt,
  };
}
