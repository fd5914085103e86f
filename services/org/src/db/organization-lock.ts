import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AbortedError, NotFoundError, UnauthenticatedError } from '@taskmesh/runtime/errors';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { ApiTokenRecord, MembershipRecord, OrganizationRecord } from './entities.ts';

/**
 * Every change of an org takes this lock first, so "is this the last OWNER?" can't race. Under the lock it
 * also checks that the role the org-context chain authorized is still the caller's: a concurrent change may
 * have demoted or removed them since, and the change must not run on a stale permission.
 */
export async function lockOrganization(tx: EntityManager, tc: TenantContext): Promise<OrganizationRecord> {
  const org = await tx.findOne(OrganizationRecord, { id: tc.org.id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
  if (!org) throw new NotFoundError(tc.org.name);
  if (tc.principal.apiToken) {
    // An API token acts with its fixed role: it must still be live, not revoked meanwhile.
    const token = await tx.findOne(ApiTokenRecord, { id: tc.principal.apiToken.tokenId, revokedAt: null, expiresAt: { $gt: new Date() } });
    if (!token) throw new UnauthenticatedError('invalid access token', { reason: 'TOKEN_INVALID' });
    return org;
  }
  const caller = await tx.findOne(MembershipRecord, { userId: tc.principal.userId }, { refresh: true });
  if (!caller) throw new NotFoundError(tc.org.name);
  if (caller.role !== tc.role) {
    throw new AbortedError('your role in this organization changed meanwhile; retry', { reason: 'ROLE_CHANGED' });
  }
  return org;
}
