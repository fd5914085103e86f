import type { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { AccessTable } from '@taskmesh/runtime/org-context';

/** Who may call which AuditService RPC (API.md "Roles": reading the audit log is for owners and admins). */
export const auditAccessTable = {
  listAuditEvents: { roles: ['OWNER', 'ADMIN'], whileSuspended: 'owners' },
  // The attachment service's export worker reads the org's audit log with it; no HTTP binding.
  exportOrganizationData: 'internal',
} as const satisfies AccessTable<typeof AuditServiceService>;
