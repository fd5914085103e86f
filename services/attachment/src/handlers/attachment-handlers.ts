import type { AttachmentServiceService } from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import type { TenantAwareService, TenantContext } from '@taskmesh/runtime/org-context';
import { attachmentMessage, operationMessage } from '../attachment-messages.ts';
import { parseOperationName } from '../domain/export-rules.ts';
import type { OrgExports } from '../org-exports.ts';
import type { Actor, Attachments } from '../attachments.ts';
import { parseAttachmentName, parseTaskName, taskNameOf, type AttachmentRef, type TaskRef } from '../resource-names.ts';
import type { TaskLookup } from '../task-directory.ts';
import type { attachmentAccessTable } from './access-table.ts';

const actorOf = (context: TenantContext): Actor => ({
  em: context.em,
  orgId: context.org.id,
  userId: context.principal.userId,
  role: context.role,
});

/** The chain resolved the org from this same name; the ids must agree (they always do, by construction). */
function sameOrg<R extends TaskRef>(context: TenantContext, ref: R, field: string): R {
  if (ref.orgId !== context.org.id) throw new InvalidArgumentError({ field, description: 'names another organization' });
  return ref;
}

function requestIdOf(value: string): string | undefined {
  if (value === '') return undefined;
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) {
    throw new InvalidArgumentError({ field: 'request_id', description: 'must be a UUID' });
  }
  return value.toLowerCase();
}

/** Proto ⇄ use cases. Every call first asks the task service whether the caller sees the task (and who may change it). */
export function attachmentHandlers(
  attachments: Attachments,
  lookupTask: TaskLookup,
  exports: OrgExports,
): TenantAwareService<typeof AttachmentServiceService, typeof attachmentAccessTable> {
  const taskOf = (ref: TaskRef, context: TenantContext) => lookupTask(taskNameOf(ref), context);
  const attachmentRef = (context: TenantContext, name: string): AttachmentRef => sameOrg(context, parseAttachmentName(name, 'name'), 'name');
  return {
    async createAttachment(req, context) {
      const ref = sameOrg(context, parseTaskName(req.parent, 'parent'), 'parent');
      const requestId = requestIdOf(req.requestId);
      const task = await taskOf(ref, context);
      const { attachment, upload } = await attachments.create(actorOf(context), ref, task, {
        filename: req.attachment?.filename ?? '',
        contentType: req.attachment?.contentType ?? '',
        sizeBytes: req.attachment?.sizeBytes ?? '0',
        ...(requestId ? { requestId } : {}),
      });
      return {
        attachment: attachmentMessage(attachment),
        uploadUrl: upload?.url ?? '',
        uploadHeaders: upload?.headers ?? {},
        ...(upload ? { expireTime: upload.expireTime } : {}),
      };
    },

    async completeAttachment(req, context) {
      const ref = attachmentRef(context, req.name);
      const task = await taskOf(ref, context);
      return { attachment: attachmentMessage(await attachments.complete(actorOf(context), ref, task)) };
    },

    async getAttachment(req, context) {
      const ref = attachmentRef(context, req.name);
      await taskOf(ref, context);
      const { attachment, download } = await attachments.get(actorOf(context), ref);
      return {
        attachment: attachmentMessage(attachment),
        downloadUrl: download?.url ?? '',
        ...(download ? { expireTime: download.expireTime } : {}),
      };
    },

    async listAttachments(req, context) {
      const ref = sameOrg(context, parseTaskName(req.parent, 'parent'), 'parent');
      await taskOf(ref, context);
      const page = await attachments.list(actorOf(context), ref, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { attachments: page.attachments.map(attachmentMessage), nextPageToken: page.nextPageToken };
    },

    async deleteAttachment(req, context) {
      const ref = attachmentRef(context, req.name);
      const task = await taskOf(ref, context);
      await attachments.delete(actorOf(context), ref, task);
      return {};
    },

    async exportOrganization(_req, context) {
      const { operation, download } = await exports.request(context.em, context.org.id, context.principal.userId);
      return operationMessage(operation, download);
    },

    async getOperation(req, context) {
      const { operationId } = parseOperationName(req.name);
      const { operation, download } = await exports.get(context.em, context.org.id, operationId);
      return operationMessage(operation, download);
    },

    async listOperations(req, context) {
      const page = await exports.list(context.em, context.org.id, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { operations: page.items.map((view) => operationMessage(view.operation, view.download)), nextPageToken: page.nextPageToken };
    },

    async cancelOperation(req, context) {
      await exports.cancel(context.em, context.org.id, context.principal.userId, parseOperationName(req.name).operationId);
      return {};
    },

    async deleteOperation(req, context) {
      await exports.delete(context.em, context.org.id, context.principal.userId, parseOperationName(req.name).operationId);
      return {};
    },
  };
}
