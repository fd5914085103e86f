import type { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import type { TenantAwareService } from '@taskmesh/runtime/org-context';
import { exportContext, forEachPaged } from '@taskmesh/runtime/org-export';
import type { AuditLog } from '../db/audit-log.ts';
import { auditQueryOf } from '../domain/audit-query.ts';
import { toAuditEvent } from '../mapping.ts';
import type { auditAccessTable } from './access-table.ts';

export function auditHandlers(auditLog: AuditLog): TenantAwareService<typeof AuditServiceService, typeof auditAccessTable> {
  return {
    async listAuditEvents(request, context) {
      const query = auditQueryOf(context.org.id, request);
      const page = await auditLog.list(context.em, query);
      return { auditEvents: page.entries.map(toAuditEvent), nextPageToken: page.nextPageToken };
    },
    async exportOrganizationData(request, ic, stream) {
      const tc = exportContext(ic, request.name);
      await forEachPaged(
        stream,
        async (pageToken, pageSize) => {
          const query = auditQueryOf(tc.org.id, { actor: '', resource: '', eventType: '', pageToken, pageSize });
          const page = await auditLog.list(tc.em, query);
          return { items: page.entries, nextPageToken: page.nextPageToken };
        },
        (entry) => stream.write({ auditEvent: toAuditEvent(entry) }),
      );
    },
  };
}
