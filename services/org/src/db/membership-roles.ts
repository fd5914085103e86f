import type { EntityManager } from '@mikro-orm/postgresql';
import type { OrgMembership } from '@taskmesh/runtime/membership-lookup';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { MembershipRecord, OrganizationRecord } from './entities.ts';

/**
 * The user's role in a live org with the org's suspension, or undefined (not a member, org unknown or
 * deleted): GetMembership's answer.
 */
export async function membershipOf(em: EntityManager, orgId: string, userId: string): Promise<OrgMembership | undefined> {
  const scoped = forkForOrg(em, orgId);
  const membership = await scoped.findOne(MembershipRecord, { userId });
  if (!membership) return undefined;
  const org = await scoped.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { fields: ['id', 'suspendedAt'] });
  return org ? { role: membership.role as OrgMembership['role'], orgSuspended: org.suspendedAt !== null } : undefined;
}
