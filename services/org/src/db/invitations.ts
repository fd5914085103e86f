import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { emailViolation, normalizeEmail } from '@taskmesh/runtime/email-addresses';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
} from '@taskmesh/runtime/errors';
import type { OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { digestToken } from '@taskmesh/runtime/secret-tokens';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { newInvitationToken, orgIdOfInvitationToken } from '../domain/invitation-token.ts';
import { assertMayInviteAs } from '../domain/member-rules.ts';
import type { MembershipChangeListener } from '../domain/membership-changes.ts';
import { assertValid } from '../domain/organization-rules.ts';
import type { InvitationMail } from '../events/invitation-mail.ts';
import { invitationAccepted, invitationCreated, invitationRevoked, memberAdded } from '../events/org-events.ts';
import type { IdentityDirectory } from '../identity-directory.ts';
import { invitationName, type MemberView } from '../mapping.ts';
import { InvitationRecord, MembershipRecord, OrganizationRecord } from './entities.ts';
import { after, keyOfRow, type Page, type TimeKey } from './keyset-pages.ts';
import { lockOrganization } from './organization-lock.ts';

/**
 * The invitation aggregate's use cases: issue (and mail), list, revoke, accept. Acceptance starts without an
 * org: the token names it, and the work runs bound to that org (both walls apply).
 */
export class Invitations {
  constructor(
    private readonly em: EntityManager,
    private readonly identity: IdentityDirectory,
    private readonly mail: InvitationMail,
    private readonly memberships: MembershipChangeListener,
    private readonly settings: { invitationTtlSeconds: number },
  ) {}

  /**
   * Issues an invitation and mails its token. A retry with the same request id returns the same invitation
   * with a fresh token (the first one is stored only as a digest and can't be shown again; the earlier token
   * stops working and the mail is sent again).
   */
  async create(
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
    const { invitation, organization } = await tc.em.transactional(async (tx) => {
      const organization = await lockOrganization(tx, tc);
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
      const invitation = tx.create(InvitationRecord, {
        id: randomUUID(),
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
      recordEvent(tx, invitationCreated(invitation, organization.displayName, pending?.id, tc.principal.userId));
      await tx.flush();
      return { invitation, organization };
    });
    if (invitation.acceptedAt || invitation.revokedAt) {
      throw new FailedPreconditionError('the invitation created with this request id is no longer pending', {
        reason: 'INVITATION_NOT_PENDING',
      });
    }
    this.mail.send(invitation, organization.displayName, token);
    return { invitation, token };
  }

  /** Pending invitations, oldest first. */
  async list(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<Page<InvitationRecord>> {
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

  async revoke(tc: TenantContext, invitationId: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      await lockOrganization(tx, tc);
      const now = new Date();
      const invitation = await tx.findOne(InvitationRecord, { id: invitationId, acceptedAt: null, revokedAt: null, expiresAt: { $gt: now } });
      if (!invitation) throw new NotFoundError(invitationName(tc.org.id, invitationId));
      assertMayInviteAs(tc.role, invitation.role as OrgRole);
      const claimed = await tx.nativeUpdate(InvitationRecord, { id: invitation.id, acceptedAt: null, revokedAt: null }, { revokedAt: now });
      if (claimed === 0) throw new NotFoundError(invitationName(tc.org.id, invitationId));
      recordEvent(tx, invitationRevoked(invitation, tc.principal.userId));
    });
  }

  /**
   * Makes the caller a member. The token names its org, so the lookup runs bound to that org (both walls
   * apply); the caller's e-mail comes from identity before the transaction opens.
   */
  async accept(principal: Principal, token: string): Promise<MemberView> {
    if (!token.trim()) throw new InvalidArgumentError({ field: 'token', description: 'is required' });
    const orgId = orgIdOfInvitationToken(token);
    if (!orgId) throw new InvalidArgumentError({ field: 'token', description: 'is not an invitation token' });
    const profile = await this.identity.profileOf(principal.userId);
    const em = forkForOrg(this.em, orgId);
    const membership = await em.transactional(async (tx) => {
      const invitation = await tx.findOne(InvitationRecord, { tokenHash: digestToken(token.trim()) });
      const org = invitation ? await tx.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE }) : null;
      if (!invitation || !org) throw new NotFoundError('invitation');
      // Joining is a call in the org like any other: refused while a platform administrator has it suspended.
      if (org.suspendedAt) throw new PermissionDeniedError(`organizations/${orgId} is suspended`, { reason: 'ORG_SUSPENDED' });
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
      recordEvent(tx, invitationAccepted(invitation, principal.userId));
      recordEvent(tx, memberAdded(orgId, principal.userId, invitation.role as OrgRole, invitation.id, principal.userId));
      await tx.flush();
      return membership;
    });
    this.memberships.evict(orgId, principal.userId);
    return { membership, profile };
  }
}
