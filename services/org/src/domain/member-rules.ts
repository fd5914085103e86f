import type { OrgRole } from '@taskmesh/runtime/membership-lookup';
import { FailedPreconditionError, PermissionDeniedError } from '@taskmesh/runtime/errors';

/**
 * Rules about whom a member may act on, beyond the access table's "who may call the RPC at all":
 * an ADMIN manages only MEMBER and VIEWER memberships and invitations; only an OWNER grants OWNER;
 * an organization always keeps an OWNER.
 */
const MANAGED_BY_ADMIN: readonly OrgRole[] = ['MEMBER', 'VIEWER'];

/** May `actor` change or remove a membership that has role `target` (and give it role `granted`)? */
export function assertMayManage(actor: OrgRole, target: OrgRole, granted?: OrgRole): void {
  if (actor === 'OWNER') return;
  if (actor === 'ADMIN' && MANAGED_BY_ADMIN.includes(target) && (granted === undefined || MANAGED_BY_ADMIN.includes(granted))) {
    return;
  }
  throw new PermissionDeniedError(`a ${actor} cannot manage ${target === granted || !granted ? target : `${target} → ${granted}`} memberships`, {
    reason: 'ROLE_NOT_MANAGEABLE',
  });
}

/** Invitations: an ADMIN may invite (and revoke invitations) for any role but OWNER. */
export function assertMayInviteAs(actor: OrgRole, role: OrgRole): void {
  if (actor === 'OWNER') return;
  if (actor === 'ADMIN' && role !== 'OWNER') return;
  throw new PermissionDeniedError(`a ${actor} cannot invite or revoke with role ${role}`, { reason: 'ROLE_NOT_MANAGEABLE' });
}

/** The last OWNER can neither leave, be removed, nor be demoted. */
export function assertKeepsAnOwner(target: OrgRole, remainsOwner: boolean, ownerCount: number): void {
  if (target === 'OWNER' && !remainsOwner && ownerCount <= 1) {
    throw new FailedPreconditionError('an organization must keep at least one OWNER; make someone else OWNER first', {
      reason: 'LAST_OWNER',
    });
  }
}
