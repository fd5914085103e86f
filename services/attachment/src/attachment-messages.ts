import { Attachment_State, type Attachment } from '@taskmesh/gen/taskmesh/attachment/v1/attachment.js';
import type { AttachmentRecord } from './db/entities.ts';
import { attachmentNameOf, userNameOf } from './resource-names.ts';

/** The API resource of a stored attachment. */
export function attachmentMessage(row: AttachmentRecord): Attachment {
  return {
    name: attachmentNameOf({ orgId: row.orgId, boardId: row.boardId, taskId: row.taskId }, row.id),
    filename: row.filename,
    contentType: row.contentType,
    sizeBytes: String(row.sizeBytes),
    state: row.state === 'READY' ? Attachment_State.STATE_READY : Attachment_State.STATE_PENDING,
    creator: userNameOf(row.createdBy),
    createTime: row.createdAt,
    ...(row.completedAt ? { completeTime: row.completedAt } : {}),
  };
}
