import {
  InvitationAccepted,
  InvitationCreated,
  InvitationRevoked,
  MemberAdded,
  MemberRemoved,
  MemberRoleChanged,
  OrganizationCreated,
  OrganizationDeleted,
  OrganizationPlanChanged,
  OrganizationPurged,
  OrganizationReactivated,
  OrganizationSuspended,
  OrganizationUpdated,
} from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { FieldChange } from '@taskmesh/gen/taskmesh/events/v1/field_change.js';
import { roleToProto, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import { domainEvent, type DomainEvent, type MessageCodec } from '@taskmesh/runtime/outbox';
import type { InvitationRecord, OrganizationRecord } from '../db/entities.ts';
import { invitationName, memberName, orgName, planToProto, toInvitationMessage, toOrganizationMessage, userName } from '../mapping.ts';
import type { Plan } from '../domain/platform-rules.ts';

// The org service's domain events, one builder per type; `actorId` is the user who made the change.

function orgEvent<T>(type: string, codec: MessageCodec<T>, payload: T, orgId: string, resource: string, actorId: string): DomainEvent {
  return domainEvent(`taskmesh.org.v1.${type}`, codec, payload, { resource, organization: orgName(orgId), actor: userName(actorId) });
}

export function organizationCreated(org: OrganizationRecord, actorId: string): DomainEvent {
  return orgEvent('OrganizationCreated', OrganizationCreated, { organization: toOrganizationMessage(org) }, org.id, orgName(org.id), actorId);
}

export function organizationUpdated(org: OrganizationRecord, changes: FieldChange[], actorId: string): DomainEvent {
  const payload = { organization: toOrganizationMessage(org), changes };
  return orgEvent('OrganizationUpdated', OrganizationUpdated, payload, org.id, orgName(org.id), actorId);
}

export function organizationDeleted(org: OrganizationRecord, actorId: string): DomainEvent {
  const payload = { organization: orgName(org.id), displayName: org.displayName };
  return orgEvent('OrganizationDeleted', OrganizationDeleted, payload, org.id, orgName(org.id), actorId);
}

/** The platform administration's events: the actor is the platform administrator. */
export function organizationSuspended(orgId: string, reason: string, actorId: string): DomainEvent {
  return orgEvent('OrganizationSuspended', OrganizationSuspended, { organization: orgName(orgId), reason }, orgId, orgName(orgId), actorId);
}

export function organizationReactivated(orgId: string, actorId: string): DomainEvent {
  return orgEvent('OrganizationReactivated', OrganizationReactivated, { organization: orgName(orgId) }, orgId, orgName(orgId), actorId);
}

export function organizationPlanChanged(orgId: string, oldPlan: Plan, newPlan: Plan, actorId: string): DomainEvent {
  const payload = { organization: orgName(orgId), oldPlan: planToProto(oldPlan), newPlan: planToProto(newPlan) };
  return orgEvent('OrganizationPlanChanged', OrganizationPlanChanged, payload, orgId, orgName(orgId), actorId);
}

/** `invitationId` is the accepted invitation's, or undefined for the creator of the org. */
export function memberAdded(orgId: string, userId: string, role: OrgRole, invitationId: string | undefined, actorId: string): DomainEvent {
  const member = memberName(orgId, userId);
  const invitation = invitationId ? invitationName(orgId, invitationId) : '';
  return orgEvent('MemberAdded', MemberAdded, { member, user: userName(userId), role: roleToProto(role), invitation }, orgId, member, actorId);
}

export function memberRoleChanged(orgId: string, userId: string, oldRole: OrgRole, newRole: OrgRole, actorId: string): DomainEvent {
  const member = memberName(orgId, userId);
  const payload = { member, user: userName(userId), oldRole: roleToProto(oldRole), newRole: roleToProto(newRole) };
  return orgEvent('MemberRoleChanged', MemberRoleChanged, payload, orgId, member, actorId);
}

/** The retention of a deleted org passed and its rows went; the actor is the system (empty). */
export function organizationPurged(orgId: string): DomainEvent {
  return domainEvent('taskmesh.org.v1.OrganizationPurged', OrganizationPurged, { organization: orgName(orgId) }, { resource: orgName(orgId), organization: orgName(orgId) });
}

export function memberRemoved(orgId: string, userId: string, role: OrgRole, left: boolean, actorId: string): DomainEvent {
  const member = memberName(orgId, userId);
  return orgEvent('MemberRemoved', MemberRemoved, { member, user: userName(userId), role: roleToProto(role), left }, orgId, member, actorId);
}

export function invitationCreated(
  invitation: InvitationRecord,
  organizationDisplayName: string,
  replacedId: string | undefined,
  actorId: string,
): DomainEvent {
  const payload = {
    invitation: toInvitationMessage(invitation),
    organizationDisplayName,
    replacedInvitation: replacedId ? invitationName(invitation.orgId, replacedId) : '',
  };
  const name = invitationName(invitation.orgId, invitation.id);
  return orgEvent('InvitationCreated', InvitationCreated, payload, invitation.orgId, name, actorId);
}

export function invitationRevoked(invitation: InvitationRecord, actorId: string): DomainEvent {
  const name = invitationName(invitation.orgId, invitation.id);
  const payload = { invitation: name, email: invitation.email, expireTime: invitation.expiresAt };
  return orgEvent('InvitationRevoked', InvitationRevoked, payload, invitation.orgId, name, actorId);
}

export function invitationAccepted(invitation: InvitationRecord, userId: string): DomainEvent {
  const name = invitationName(invitation.orgId, invitation.id);
  const payload = { invitation: name, user: userName(userId), member: memberName(invitation.orgId, userId) };
  return orgEvent('InvitationAccepted', InvitationAccepted, payload, invitation.orgId, name, userId);
}
