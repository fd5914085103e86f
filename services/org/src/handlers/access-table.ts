import type { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { ALL_ROLES, type AccessTable } from '@taskmesh/runtime/org-context';
import { parseName } from '@taskmesh/runtime/resource-names';

/**
 * Who may call which OrgService RPC (API.md "Roles"). The single place these decisions live; rules about the
 * target of an action (an ADMIN manages only MEMBER and VIEWER, only an OWNER grants OWNER, the last OWNER
 * stays) are domain rules in domain/member-rules.ts. `whileSuspended: 'owners'` marks what a suspended org's
 * OWNERs may still call (its reads; the org export gets the same mark).
 */
export const orgAccessTable = {
  createOrganization: 'authenticated',
  listOrganizations: 'authenticated',
  getOrganization: { roles: ALL_ROLES, whileSuspended: 'owners' },
  updateOrganization: { roles: ['OWNER', 'ADMIN'] },
  deleteOrganization: { roles: ['OWNER'] },
  listMembers: { roles: ALL_ROLES, whileSuspended: 'owners' },
  updateMember: { roles: ['OWNER', 'ADMIN'] },
  deleteMember: {
    roles: ['OWNER', 'ADMIN'],
    // Leaving: every member may delete their own membership.
    orIf: {
      roles: ALL_ROLES,
      holds: (req, tc) => parseName<'org' | 'user'>(req.name, 'organizations/{org}/members/{user}').user === tc.principal.userId,
    },
  },
  createInvitation: { roles: ['OWNER', 'ADMIN'] },
  listInvitations: { roles: ['OWNER', 'ADMIN'], whileSuspended: 'owners' },
  deleteInvitation: { roles: ['OWNER', 'ADMIN'] },
  // The token names the org; the caller is not a member yet.
  acceptInvitation: 'authenticated',
  createApiToken: { roles: ['OWNER', 'ADMIN'] },
  listApiTokens: { roles: ['OWNER', 'ADMIN'], whileSuspended: 'owners' },
  deleteApiToken: { roles: ['OWNER', 'ADMIN'] },
  // The org-context step of every other service resolves `tm_…` bearer tokens with it; no HTTP binding.
  resolveApiToken: 'internal',
  // For the other services' org-context step; it has no HTTP binding, so the edge cannot reach it.
  getMembership: 'internal',
  // For identity, before it erases an account; no HTTP binding either.
  listSoleOwnerships: 'internal',
  // The attachment service's export worker reads the org's records with it; no HTTP binding.
  exportOrganizationData: 'internal',
} as const satisfies AccessTable<typeof OrgServiceService>;
