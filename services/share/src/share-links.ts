import type { EntityManager } from '@mikro-orm/postgresql';
import argon2 from 'argon2';
import { randomUUID } from 'node:crypto';
import { ShareLinkCreated, ShareLinkOpened, ShareLinkRevoked } from '@taskmesh/gen/taskmesh/share/v1/events.js';
import type { ShareLink } from '@taskmesh/gen/taskmesh/share/v1/share_link.js';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, UnauthenticatedError } from '@taskmesh/runtime/errors';
import type { CallContext } from '@taskmesh/runtime/grpc-server';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { digestToken } from '@taskmesh/runtime/secret-tokens';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { ShareCodeRecord, ShareLinkRecord } from './db/entities.ts';
import { SharedViews, type TaskView } from './db/shared-views.ts';
import { checkLinkPassword, expiryOf, isShareCode, newShareCode } from './domain/share-rules.ts';
import type { OpenThrottle } from './open-throttle.ts';
import type { TaskDirectory } from './task-directory.ts';

/** Who acts, where: the org-bound EntityManager of the org-context chain, the caller, and the call (for its token). */
export interface Actor {
  em: EntityManager;
  orgId: string;
  userId: string;
  call: CallContext;
}

export interface TaskRef {
  orgId: string;
  boardId: string;
  taskId: string;
}

export interface ShareSettings {
  /** Public base URL of the REST API; the link's URL is this + /v1/shared/{code}. */
  baseUrl: string;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
}

/** What a public reader is shown. */
export interface SharedTaskView {
  task: Omit<TaskView, 'taskId' | 'listId' | 'updatedAt'> & { boardDisplayName: string; listDisplayName: string };
  expireTime: Date;
}

export const taskNameOf = (ref: TaskRef) => `organizations/${ref.orgId}/boards/${ref.boardId}/tasks/${ref.taskId}`;
export const linkNameOf = (link: ShareLinkRecord) =>
  `${taskNameOf({ orgId: link.orgId, boardId: link.boardId, taskId: link.taskId })}/shareLinks/${link.id}`;

export function shareLinkMessage(link: ShareLinkRecord): ShareLink {
  return {
    name: linkNameOf(link),
    expireTime: link.expiresAt,
    password: '',
    passwordProtected: link.passwordHash !== null,
    openCount: link.openCount,
    createTime: link.createdAt,
    creator: `users/${link.createdBy}`,
  };
}

/** One answer for every code that does not lead to a live task, so none can be told apart. */
const unknownCode = () => new NotFoundError('share link');

/**
 * The share service's use cases. Calls to other services (GetTask, GetBoard, ListLists) and password hashing
 * happen before a transaction opens; each change and its event commit together (the outbox).
 */
export class ShareLinks {
  constructor(
    private readonly em: EntityManager,
    private readonly directory: TaskDirectory,
    private readonly throttle: OpenThrottle,
    private readonly settings: ShareSettings,
  ) {}

  async create(
    actor: Actor,
    ref: TaskRef,
    input: { expireTime: Date | undefined; password: string; requestId: string | undefined },
  ): Promise<{ link: ShareLinkRecord; url: string }> {
    const now = new Date();
    const expiresAt = expiryOf(input.expireTime, now);
    checkLinkPassword(input.password);
    if (input.requestId) {
      const earlier = await actor.em.findOne(ShareLinkRecord, { createdBy: actor.userId, createRequestId: input.requestId });
      // The code of the first answer is not kept: a retry gets the link without its URL.
      if (earlier && earlier.taskId === ref.taskId && !earlier.revokedAt) return { link: earlier, url: '' };
      if (earlier) throw new InvalidArgumentError({ field: 'request_id', description: 'was used for another share link' });
    }
    const snapshot = await this.directory(taskNameOf(ref), actor.call);
    const passwordHash = input.password
      ? await argon2.hash(input.password, { type: argon2.argon2id, ...this.settings.argon2 })
      : null;
    const code = newShareCode();
    const codeHash = digestToken(code);
    const link = await actor.em.transactional(async (tx) => {
      const views = new SharedViews(tx);
      // The task (or its board, or the org) was deleted after GetTask answered: no link to something gone.
      if (await views.anyRemoved([ref.taskId, ref.boardId, ref.orgId])) throw new NotFoundError(taskNameOf(ref));
      tx.create(ShareCodeRecord, { codeHash, orgId: ref.orgId });
      const link = tx.create(ShareLinkRecord, {
        id: randomUUID(),
        orgId: ref.orgId,
        boardId: ref.boardId,
        taskId: ref.taskId,
        codeHash,
        passwordHash,
        expiresAt,
        revokedAt: null,
        openCount: 0,
        createdBy: actor.userId,
        createRequestId: input.requestId ?? null,
        createdAt: now,
      });
      await views.putTask(ref.orgId, ref.boardId, snapshot.task);
      await views.putPlace(ref.orgId, { id: ref.boardId, boardId: ref.boardId, kind: 'board', displayName: snapshot.boardDisplayName });
      for (const list of snapshot.lists) {
        await views.putPlace(ref.orgId, { id: list.id, boardId: ref.boardId, kind: 'list', displayName: list.displayName });
      }
      recordEvent(
        tx,
        domainEvent('taskmesh.share.v1.ShareLinkCreated', ShareLinkCreated, { shareLink: shareLinkMessage(link), task: taskNameOf(ref) }, {
          resource: linkNameOf(link),
          organization: `organizations/${ref.orgId}`,
          actor: `users/${actor.userId}`,
        }),
      );
      return link;
    });
    return { link, url: `${this.settings.baseUrl.replace(/\/+$/, '')}/v1/shared/${code}` };
  }

  /** Live links of a task, newest first. A task without links is checked with the task service (NOT_FOUND if gone). */
  async list(actor: Actor, ref: TaskRef, page: { pageSize: number; pageToken: string }): Promise<{ links: ShareLinkRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `share-links:${ref.taskId}`;
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const cursor = after ? { createdAt: new Date(after[0]), id: after[1] } : undefined;
    if (cursor && Number.isNaN(cursor.createdAt.getTime())) {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const live = { boardId: ref.boardId, taskId: ref.taskId, revokedAt: null, expiresAt: { $gt: new Date() } };
    const rows = await actor.em.find(
      ShareLinkRecord,
      cursor ? { ...live, $or: [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $lt: cursor.id } }] } : live,
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 },
    );
    if (rows.length === 0 && !cursor) await this.directory(taskNameOf(ref), actor.call);
    const { items, nextPageToken } = pageOf(rows, size, (l) => [l.createdAt.toISOString(), l.id], query);
    return { links: items, nextPageToken };
  }

  /** Revokes a link (expired ones too); its code stops resolving at once. */
  async revoke(actor: Actor, ref: TaskRef, linkId: string): Promise<void> {
    const name = `${taskNameOf(ref)}/shareLinks/${linkId}`;
    await actor.em.transactional(async (tx) => {
      const link = await tx.findOne(ShareLinkRecord, { id: linkId, boardId: ref.boardId, taskId: ref.taskId, revokedAt: null });
      if (!link) throw new NotFoundError(name);
      link.revokedAt = new Date();
      await tx.nativeDelete(ShareCodeRecord, { codeHash: link.codeHash });
      recordEvent(
        tx,
        domainEvent('taskmesh.share.v1.ShareLinkRevoked', ShareLinkRevoked, { shareLink: name, task: taskNameOf(ref) }, {
          resource: name,
          organization: `organizations/${ref.orgId}`,
          actor: `users/${actor.userId}`,
        }),
      );
    });
  }

  /**
   * The public read. `password` is undefined for GET (a protected link then answers SHARE_PASSWORD_REQUIRED).
   * Unknown, malformed, expired and revoked codes, and links whose task, board or org is gone, all answer the
   * same NOT_FOUND. Wrong passwords are counted per link and per address and throttled.
   */
  async open(code: string, password: string | undefined, address: string): Promise<SharedTaskView> {
    if (!isShareCode(code)) throw unknownCode();
    const codeHash = digestToken(code);
    // The only read before the org is known: the code's digest → its org (share_codes holds nothing else).
    const index = await this.em.fork({ clear: true }).findOne(ShareCodeRecord, { codeHash });
    if (!index) throw unknownCode();
    const em = forkForOrg(this.em, index.orgId);
    const link = await em.findOne(ShareLinkRecord, { codeHash, revokedAt: null, expiresAt: { $gt: new Date() } });
    if (!link) throw unknownCode();
    const views = new SharedViews(em);
    if (await views.isSuspended(index.orgId)) {
      throw new PermissionDeniedError('the organization of this share link is suspended', { reason: 'ORG_SUSPENDED' });
    }
    const task = await views.task(link.taskId);
    const names = task ? await views.names([task.boardId, task.listId]) : new Map<string, string>();
    if (!task || !names.has(task.boardId)) throw unknownCode();
    if (link.passwordHash) {
      if (password === undefined) {
        throw new UnauthenticatedError('this share link needs a password: POST /v1/shared/{code}:open', { reason: 'SHARE_PASSWORD_REQUIRED' });
      }
      await this.throttle.admit(codeHash, address);
      const valid = await argon2.verify(link.passwordHash, password).catch(() => false);
      if (!valid) {
        await this.throttle.recordFailure(codeHash, address);
        throw new UnauthenticatedError('wrong password for this share link', { reason: 'SHARE_PASSWORD_INVALID' });
      }
    }
    await em.transactional(async (tx) => {
      const rows = await tx.execute<{ open_count: number }[]>(
        'update share_links set open_count = open_count + 1 where org_id = ? and id = ? and revoked_at is null returning open_count',
        [link.orgId, link.id],
      );
      if (rows.length === 0) throw unknownCode();
      recordEvent(
        tx,
        domainEvent('taskmesh.share.v1.ShareLinkOpened', ShareLinkOpened, { shareLink: linkNameOf(link), task: taskNameOf(link), openCount: rows[0]!.open_count }, {
          resource: linkNameOf(link),
          organization: `organizations/${link.orgId}`,
          // Anonymous: nothing about the reader is recorded.
          actor: '',
        }),
      );
    });
    return {
      task: {
        title: task.title,
        description: task.description,
        status: task.status,
        priority: task.priority,
        dueTime: task.dueTime ?? null,
        labels: task.labels,
        boardDisplayName: names.get(task.boardId) ?? '',
        listDisplayName: names.get(task.listId) ?? '',
      },
      expireTime: link.expiresAt,
    };
  }
}
