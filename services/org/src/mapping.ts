import type { Invitation } from '@taskmesh/gen/taskmesh/org/v1/invitation.js';
import type { Member } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import type { Organization } from '@taskmesh/gen/taskmesh/org/v1/organization.js';
import { roleToProto, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { InvitationRecord, MembershipRecord, OrganizationRecord } from './db/entities.ts';
import { etagOf } from './domain/organization-rules.ts';
import type { UserProfile } from './identity-directory.ts';

// The org service's one mapping: resource names, and records to the proto messages of its API and events.

export const orgName = (orgId: string) => `organizations/${orgId}`;
export const memberName = (orgId: string, userId: string) => `organizations/${orgId}/members/${userId}`;
export const invitationName = (orgId: string, id: string) => `organizations/${orgId}/invitations/${id}`;
export const userName = (userId: string) => `users/${userId}`;

/** A membership with the member's profile from identity (absent when identity no longer knows the user). */
export interface MemberView {
  membership: MembershipRecord;
  profile: UserProfile | undefined;
}

export function toOrganizationMessage(org: OrganizationRecord): Organization {
  return {
    name: orgName(org.id),
    displayName: org.displayName,
    etag: etagOf(org.version),
    createTime: org.createdAt,
    updateTime: org.updatedAt,
  };
}

export function toMemberMessage({ membership, profile }: MemberView): Member {
  return {
    name: memberName(membership.orgId, membership.userId),
    user: userName(membership.userId),
    email: profile?.email ?? '',
    displayName: profile?.displayName ?? '',
    role: roleToProto(membership.role as OrgRole),
    etag: etagOf(membership.version),
    createTime: membership.createdAt,
    updateTime: membership.updatedAt,
  };
}

export function toInvitationMessage(invitation: InvitationRecord): Invitation {
  return {
    name: invitationName(invitation.orgId, invitation.id),
    email: invitation.email,
    role: roleToProto(invitation.role as OrgRole),
    inviter: userName(invitation.inviterId),
    createTime: invitation.createdAt,
    expireTime: invitation.expiresAt,
  };
}
