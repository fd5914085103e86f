import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** An attachment's metadata; its bytes are the object `objectKey` in the bucket. */
export const AttachmentRecord = defineEntity({
  name: 'AttachmentRecord',
  tableName: 'attachments',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    boardId: p.uuid(),
    taskId: p.uuid(),
    filename: p.text(),
    contentType: p.text(),
    sizeBytes: p.bigint('number'),
    /** 'PENDING' until CompleteAttachment checked the upload, then 'READY'. */
    state: p.text(),
    objectKey: p.text(),
    createdBy: p.uuid(),
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
    completedAt: p.datetime().nullable(),
  },
});
export type AttachmentRecord = InferEntity<typeof AttachmentRecord>;

/** An export of the whole organization (a long-running operation); its archive is the object `objectKey`. */
export const ExportOperationRecord = defineEntity({
  name: 'ExportOperationRecord',
  tableName: 'export_operations',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    requestedBy: p.uuid(),
    /** 'PENDING' → 'RUNNING' → 'SUCCEEDED' or 'FAILED' (back to 'PENDING' between attempts); 'CANCELLED' from either of the first two. */
    state: p.text(),
    objectKey: p.text().nullable(),
    sizeBytes: p.bigint('number').nullable(),
    recordCount: p.bigint('number'),
    errorMessage: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    endedAt: p.datetime().nullable(),
    archiveExpiresAt: p.datetime().nullable(),
  },
});
export type ExportOperationRecord = InferEntity<typeof ExportOperationRecord>;
