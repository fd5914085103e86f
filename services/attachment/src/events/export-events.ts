import { OrganizationExportRequested } from '@taskmesh/gen/taskmesh/attachment/v1/events.js';
import { domainEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import { operationNameOf } from '../domain/export-rules.ts';
import { userNameOf } from '../resource-names.ts';

/** An OWNER asked for an export: written with the operation, in its transaction (the outbox). */
export function exportRequested(orgId: string, operationId: string, userId: string): DomainEvent {
  const operation = operationNameOf(orgId, operationId);
  const organization = `organizations/${orgId}`;
  return domainEvent('taskmesh.attachment.v1.OrganizationExportRequested', OrganizationExportRequested, { operation, organization }, {
    resource: operation,
    organization,
    actor: userNameOf(userId),
  });
}
