import type { Invitation } from '@taskmesh/gen/taskmesh/org/v1/invitation.js';
import type { Member } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { Organization_State, type Organization as AdminOrganization, type AuditEvent as PlatformAuditEvent, type DeadLetter as DeadLetterMessage } from '@taskmesh/gen/taskmesh/admin/v1/admin_service.js';
import { Plan as PlanProto, type Organization } from '@taskmesh/gen/taskmesh/org/v1/organization.js';
import type { DeadLetter } from '@taskmesh/runtime/events/dead-letters';
import { roleToProto, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { InvitationRecord, MembershipRecord, OrganizationRecord, PlatformAuditRecord } from './db/entities.ts';
import { orgStateOf, type OrgState, type Plan } from './domain/platform-rules.ts';
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

const PLAN_TO_PROTO: Record<Plan, PlanProto> = { FREE: PlanProto.PLAN_FREE, TEAM: PlanProto.PLAN_TEAM, ENTERPRISE: PlanProto.PLAN_ENTERPRISE };
const STATE_TO_PROTO: Record<OrgState, Organization_State> = {
  ACTIVE: Organization_State.STATE_ACTIVE,
  SUSPENDED: Organization_State.STATE_SUSPENDED,
  DELETED: Organization_State.STATE_DELETED,
};

export const planToProto = (plan: Plan): PlanProto => PLAN_TO_PROTO[plan];
export function planFromProto(plan: PlanProto): Plan | undefined {
  return (Object.keys(PLAN_TO_PROTO) as Plan[]).find((p) => PLAN_TO_PROTO[p] === plan);
}
export function stateFromProto(state: Organization_State): OrgState | undefined {
  return (Object.keys(STATE_TO_PROTO) as OrgState[]).find((s) => STATE_TO_PROTO[s] === state);
}

/** An organization as platform administrators see it; the task count comes from the task service. */
export function toAdminOrganizationMessage(org: OrganizationRecord, memberCount: number, taskCount: number): AdminOrganization {
  return {
    name: orgName(org.id),
    displayName: org.displayName,
    plan: planToProto(org.plan as Plan),
    state: STATE_TO_PROTO[orgStateOf(org)],
    suspendReason: org.suspendReason ?? '',
    memberCount,
    taskCount: String(taskCount),
    createTime: org.createdAt,
  };
}

export function toPlatformAuditEventMessage(row: PlatformAuditRecord): PlatformAuditEvent {
  return {
    name: `auditEvents/${row.id}`,
    actor: userName(row.actorId),
    action: row.action,
    organization: row.orgId ? orgName(row.orgId) : '',
    detail: row.detail,
    createTime: row.createdAt,
  };
}

export function toDeadLetterMessage(letter: DeadLetter): DeadLetterMessage {
  return {
    name: `deadLetters/${letter.seq}`,
    consumer: letter.consumer,
    originalSubject: letter.originalSubject,
    reason: letter.reason,
    deliveries: letter.deliveries,
    deadLetterTime: letter.deadLetteredAt,
    eventId: letter.eventId ?? '',
    eventType: letter.eventType ?? '',
  };
}
