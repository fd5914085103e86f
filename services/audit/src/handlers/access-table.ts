import type { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { AccessTable } from '@taskmesh/runtime/org-context';

/** Who may call which AuditService RPC (API.md "Roles": reading the audit log is for owners and admins). */
export const auditAccessTable = {
  listAuditEvents: { roles: ['OWNER', 'ADMIN'], whileSuspended: 'owners' },
} as const satisfies AccessTable<typeof AuditServiceService>;
