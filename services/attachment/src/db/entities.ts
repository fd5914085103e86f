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
