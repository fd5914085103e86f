import type { AttachmentServiceService } from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import { ALL_ROLES, type AccessTable } from '@taskmesh/runtime/org-context';
import { parseOperationName } from '../domain/export-rules.ts';

// VIEWERs never change attachments; which MEMBERs may is decided per task (Attachments.assertMayChange).
const MAY_CHANGE = ['OWNER', 'ADMIN', 'MEMBER'] as const;

const orgOfOperation = (req: { name: string }): string => `organizations/${parseOperationName(req.name).orgId}`;

/**
 * Who may call which AttachmentService RPC (API.md "Roles": every member reads; OWNER and ADMIN add
 * attachments to any task, a MEMBER to tasks they may update). The single place these decisions live.
 */
export const attachmentAccessTable = {
  createAttachment: { roles: MAY_CHANGE },
  completeAttachment: { roles: MAY_CHANGE },
  getAttachment: { roles: ALL_ROLES, whileSuspended: 'owners' },
  listAttachments: { roles: ALL_ROLES, whileSuspended: 'owners' },
  deleteAttachment: { roles: MAY_CHANGE },
  // Exporting the organization is for OWNERs only, suspended or not (issue 15); an operation's name carries its org.
  exportOrganization: { roles: ['OWNER'], whileSuspended: 'owners' },
  getOperation: { roles: ['OWNER'], whileSuspended: 'owners', orgFrom: orgOfOperation },
  listOperations: { roles: ['OWNER'], whileSuspended: 'owners' },
  // Same rule as GetOperation: the owners of the operation's org; another org's operation is NOT_FOUND.
  cancelOperation: { roles: ['OWNER'], whileSuspended: 'owners', orgFrom: orgOfOperation },
  deleteOperation: { roles: ['OWNER'], whileSuspended: 'owners', orgFrom: orgOfOperation },
} as const satisfies AccessTable<typeof AttachmentServiceService>;
