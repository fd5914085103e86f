import { OrganizationExportCancelled, OrganizationExportDeleted, OrganizationExportRequested } from '@taskmesh/gen/taskmesh/attachment/v1/events.js';
import { domainEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import { operationNameOf } from '../domain/export-rules.ts';
import { userNameOf } from '../resource-names.ts';

/** What an OWNER did to an export operation; each event is written in the transaction of the change (the outbox). */
type ExportAction = 'Requested' | 'Cancelled' | 'Deleted';

const PAYLOADS = {
  Requested: OrganizationExportRequested,
  Cancelled: OrganizationExportCancelled,
  Deleted: OrganizationExportDeleted,
} as const;

/** Audited, since the archive holds all of the organization's data: asked for, cancelled, or deleted with its archive. */
export function exportEvent(action: ExportAction, orgId: string, operationId: string, userId: string): DomainEvent {
  const operation = operationNameOf(orgId, operationId);
  const organization = `organizations/${orgId}`;
  return domainEvent(`taskmesh.attachment.v1.OrganizationExport${action}`, PAYLOADS[action], { operation, organization }, {
    resource: operation,
    organization,
    actor: userNameOf(userId),
  });
}
