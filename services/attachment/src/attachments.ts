import { randomUUID } from 'node:crypto';
import { LockMode, UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AttachmentCompleted, AttachmentCreated, AttachmentDeleted } from '@taskmesh/gen/taskmesh/attachment/v1/events.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, PermissionDeniedError } from '@taskmesh/runtime/errors';
import { domainEvent, recordEvent, type MessageCodec } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { attachmentMessage } from './attachment-messages.ts';
import { AttachmentRecord } from './db/entities.ts';
import {
  contentTypeViolation,
  DOWNLOAD_URL_TTL_SECONDS,
  filenameViolation,
  mayChangeAttachments,
  rejectViolations,
  sameMediaType,
  sizeViolation,
  UPLOAD_URL_TTL_SECONDS,
} from './domain/attachment-rules.ts';
import { attachmentNameOf, taskNameOf, userNameOf, type AttachmentRef, type TaskRef } from './resource-names.ts';
import { enqueueDeletionsSql, type ObjectDeletions } from './storage/object-deletions.ts';
import { contentDispositionFor, type ObjectStore, type PresignedUpload } from './storage/object-store.ts';
import type { TaskView } from './task-directory.ts';

/** Who acts, where: the org-bound EntityManager from the org-context chain, the caller and their role. */
export interface Actor {
  em: EntityManager;
  orgId: string;
  userId: string;
  role: string;
}

export interface AttachmentLimits {
  maxBytes: number;
  maxPerTask: number;
  /** After this a PENDING attachment is reaped: no upload URL may outlive it. */
  pendingTtlSeconds: number;
}

/** The task as the task service showed it to the caller just now (task-directory.ts). */
type TaskSeen = TaskView;

/**
 * The attachment service's use cases. The task service is asked (by the handler, before anything else) whether
 * the caller sees the task and who may change it; the object store is called before or after the database
 * transactions, never inside one. Each change and its event are written in one transaction (the outbox).
 */
export class Attachments {
  constructor(
    private readonly store: ObjectStore,
    private readonly deletions: ObjectDeletions,
    private readonly limits: AttachmentLimits,
  ) {}

  private event<T>(actor: Actor, type: string, codec: MessageCodec<T>, payload: T, resource: string) {
    return domainEvent(`taskmesh.attachment.v1.${type}`, codec, payload, {
      resource,
      organization: `organizations/${actor.orgId}`,
      actor: userNameOf(actor.userId),
    });
  }

  private assertMayChange(actor: Actor, task: TaskSeen): void {
    if (!mayChangeAttachments(actor.role, actor.userId, task)) {
      throw new PermissionDeniedError('only OWNER, ADMIN and members who may update the task may change its attachments', {
        reason: 'ROLE_NOT_ALLOWED',
      });
    }
  }

  async create(
    actor: Actor,
    ref: TaskRef,
    task: TaskSeen,
    input: { filename: string; contentType: string; sizeBytes: string; requestId?: string },
  ): Promise<{ attachment: AttachmentRecord; upload: PresignedUpload | undefined }> {
    this.assertMayChange(actor, task);
    const sizeBytes = /^\d{1,16}$/.test(input.sizeBytes) ? Number(input.sizeBytes) : Number.NaN;
    rejectViolations([
      filenameViolation(input.filename),
      contentTypeViolation(input.contentType),
      sizeViolation(sizeBytes, this.limits.maxBytes),
    ]);
    let attachment: AttachmentRecord | null = null;
    if (input.requestId) attachment = await this.byRequest(actor, ref, input.requestId);
    if (!attachment) {
      try {
        attachment = await actor.em.transactional(async (tx) => {
          // One creation per task at a time, so the count below cannot be passed by concurrent requests.
          await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`attachments:${ref.taskId}`]);
          const count = await tx.count(AttachmentRecord, { taskId: ref.taskId });
          if (count >= this.limits.maxPerTask) {
            throw new FailedPreconditionError(`a task holds at most ${this.limits.maxPerTask} attachments`, {
              reason: 'ATTACHMENT_LIMIT_REACHED',
              metadata: { limit: String(this.limits.maxPerTask) },
            });
          }
          const id = randomUUID();
          const row = tx.create(AttachmentRecord, {
            id,
            orgId: actor.orgId,
            boardId: ref.boardId,
            taskId: ref.taskId,
            filename: input.filename,
            contentType: input.contentType,
            sizeBytes,
            state: 'PENDING',
            objectKey: `${actor.orgId}/${ref.taskId}/${id}`,
            createdBy: actor.userId,
            createRequestId: input.requestId ?? null,
            createdAt: new Date(),
            completedAt: null,
          });
          recordEvent(tx, this.event(actor, 'AttachmentCreated', AttachmentCreated, { attachment: attachmentMessage(row) }, attachmentNameOf(ref, id)));
          return row;
        });
      } catch (err) {
        // A concurrent retry with the same request id won the insert: answer with its attachment.
        if (!(err instanceof UniqueConstraintViolationException && input.requestId)) throw err;
        attachment = await this.byRequest(actor, ref, input.requestId);
        if (!attachment) throw err;
      }
    }
    // A retry that finds the attachment already READY gets no new URL: its object is final.
    const upload = attachment.state === 'PENDING' ? await this.presignUntilReaped(attachment) : undefined;
    return { attachment, upload };
  }

  /**
   * The upload URL of a pending attachment, expiring by the time the reaper may remove it (a retry of an old
   * create gets a shorter one), so no upload can land after its row is gone; none once that time has come.
   */
  private async presignUntilReaped(attachment: AttachmentRecord): Promise<PresignedUpload | undefined> {
    const left = Math.floor((attachment.createdAt.getTime() + this.limits.pendingTtlSeconds * 1000 - Date.now()) / 1000);
    const ttl = Math.min(UPLOAD_URL_TTL_SECONDS, left);
    return ttl > 0 ? this.store.presignUpload(attachment.objectKey, attachment, ttl) : undefined;
  }

  private byRequest(actor: Actor, ref: TaskRef, requestId: string): Promise<AttachmentRecord | null> {
    return actor.em.fork().findOne(AttachmentRecord, { taskId: ref.taskId, createdBy: actor.userId, createRequestId: requestId });
  }

  private async load(actor: Actor, ref: AttachmentRef, em: EntityManager = actor.em, lock = false): Promise<AttachmentRecord> {
    const row = await em.findOne(
      AttachmentRecord,
      { id: ref.attachmentId, taskId: ref.taskId, boardId: ref.boardId },
      lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {},
    );
    if (!row) throw new NotFoundError(attachmentNameOf(ref, ref.attachmentId));
    return row;
  }

  async complete(actor: Actor, ref: AttachmentRef, task: TaskSeen): Promise<AttachmentRecord> {
    this.assertMayChange(actor, task);
    const pending = await this.load(actor, ref, actor.em.fork());
    if (pending.state === 'READY') return pending;
    const stored = await this.store.stat(pending.objectKey);
    // The reaper may have removed the row and its object since the read: then it is unknown, not missing bytes.
    if (!stored || stored.sizeBytes !== pending.sizeBytes) await this.load(actor, ref, actor.em.fork());
    if (!stored) {
      throw new FailedPreconditionError('the file has not been uploaded: PUT it to the upload URL first', { reason: 'OBJECT_MISSING' });
    }
    if (stored.sizeBytes !== pending.sizeBytes) {
      throw new FailedPreconditionError(`the uploaded file has ${stored.sizeBytes} bytes, not the declared ${pending.sizeBytes}`, {
        reason: 'SIZE_MISMATCH',
      });
    }
    if (!sameMediaType(stored.contentType, pending.contentType) || stored.contentDisposition !== contentDispositionFor(pending.filename)) {
      throw new FailedPreconditionError('the file was not uploaded with the upload headers (content type and disposition)', {
        reason: 'HEADERS_MISMATCH',
      });
    }
    return actor.em.transactional(async (tx) => {
      const row = await this.load(actor, ref, tx, true);
      if (row.state === 'READY') return row;
      row.state = 'READY';
      row.completedAt = new Date();
      recordEvent(tx, this.event(actor, 'AttachmentCompleted', AttachmentCompleted, { attachment: attachmentMessage(row) }, attachmentNameOf(ref, row.id)));
      return row;
    });
  }

  async get(actor: Actor, ref: AttachmentRef): Promise<{ attachment: AttachmentRecord; download?: { url: string; expireTime: Date } }> {
    const attachment = await this.load(actor, ref);
    if (attachment.state !== 'READY') return { attachment };
    const download = await this.store.presignDownload(attachment.objectKey, DOWNLOAD_URL_TTL_SECONDS);
    return { attachment, download };
  }

  async list(actor: Actor, ref: TaskRef, page: { pageSize: number; pageToken: string }): Promise<{ attachments: AttachmentRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `attachments:${taskNameOf(ref)}`;
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const cursor = after ? { createdAt: new Date(after[0]), id: after[1] } : undefined;
    if (cursor && Number.isNaN(cursor.createdAt.getTime())) {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const where = cursor
      ? { taskId: ref.taskId, boardId: ref.boardId, $or: [{ createdAt: { $gt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $gt: cursor.id } }] }
      : { taskId: ref.taskId, boardId: ref.boardId };
    const rows = await actor.em.find(AttachmentRecord, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1 });
    const { items, nextPageToken } = pageOf(rows, size, (a) => [a.createdAt.toISOString(), a.id], query);
    return { attachments: items, nextPageToken };
  }

  /** Deletes the row and queues its object in one transaction; then removes the object before answering. */
  async delete(actor: Actor, ref: AttachmentRef, task: TaskSeen): Promise<void> {
    this.assertMayChange(actor, task);
    await actor.em.transactional(async (tx) => {
      const row = await this.load(actor, ref, tx, true);
      await tx.execute(enqueueDeletionsSql('org_id = ? and id = ?'), [actor.orgId, row.id]);
      recordEvent(tx, this.event(actor, 'AttachmentDeleted', AttachmentDeleted, { attachment: attachmentNameOf(ref, row.id), filename: row.filename }, attachmentNameOf(ref, row.id)));
    });
    // Best effort now; the worker retries what the store refused.
    await this.deletions.drain().catch(() => undefined);
  }
}
