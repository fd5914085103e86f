import { Attachment_State, type Attachment } from '@taskmesh/gen/taskmesh/attachment/v1/attachment.js';
import { status as GrpcCode } from '@grpc/grpc-js';
import type { Operation } from '@taskmesh/gen/google/longrunning/operations.js';
import {
  ExportOrganizationMetadata,
  ExportOrganizationMetadata_State,
  ExportOrganizationResponse,
} from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import type { AttachmentRecord, ExportOperationRecord } from './db/entities.ts';
import { isDone, operationNameOf } from './domain/export-rules.ts';
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

const ANY_PREFIX = 'type.googleapis.com/';
const STATE_TO_PROTO: Record<string, ExportOrganizationMetadata_State> = {
  PENDING: ExportOrganizationMetadata_State.STATE_PENDING,
  RUNNING: ExportOrganizationMetadata_State.STATE_RUNNING,
  SUCCEEDED: ExportOrganizationMetadata_State.STATE_SUCCEEDED,
  FAILED: ExportOrganizationMetadata_State.STATE_FAILED,
  CANCELLED: ExportOrganizationMetadata_State.STATE_CANCELLED,
};

/**
 * The google.longrunning.Operation of an export: metadata always, and once done either the response (with
 * `download`, a URL signed for this answer) or the error. A finished export whose archive has expired answers
 * with an empty download URL.
 */
export function operationMessage(row: ExportOperationRecord, download: { url: string; expireTime: Date } | undefined): Operation {
  const metadata = ExportOrganizationMetadata.encode({
    organization: `organizations/${row.orgId}`,
    state: STATE_TO_PROTO[row.state] ?? ExportOrganizationMetadata_State.STATE_UNSPECIFIED,
    requester: userNameOf(row.requestedBy),
    createTime: row.createdAt,
    ...(row.endedAt ? { endTime: row.endedAt } : {}),
    recordCount: String(row.recordCount),
  }).finish();
  const operation: Operation = {
    name: operationNameOf(row.orgId, row.id),
    metadata: { typeUrl: `${ANY_PREFIX}taskmesh.attachment.v1.ExportOrganizationMetadata`, value: Buffer.from(metadata) },
    done: isDone(row.state),
  };
  if (row.state === 'SUCCEEDED') {
    const response = ExportOrganizationResponse.encode({
      downloadUrl: download?.url ?? '',
      ...(download ? { expireTime: download.expireTime } : row.archiveExpiresAt ? { expireTime: row.archiveExpiresAt } : {}),
      sizeBytes: String(row.sizeBytes ?? 0),
    }).finish();
    operation.response = { typeUrl: `${ANY_PREFIX}taskmesh.attachment.v1.ExportOrganizationResponse`, value: Buffer.from(response) };
  } else if (row.state === 'FAILED') {
    operation.error = { code: GrpcCode.INTERNAL, message: row.errorMessage ?? 'the export failed', details: [] };
  } else if (row.state === 'CANCELLED') {
    operation.error = { code: GrpcCode.CANCELLED, message: row.errorMessage ?? 'the export was cancelled', details: [] };
  }
  return operation;
}
