import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { AbortedError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import type { MembershipLookup } from '@taskmesh/runtime/membership-lookup';
import { decodePageToken, pageOf } from '@taskmesh/runtime/paging';
import { boardName, listName, type BoardDirectory } from './board-directory.ts';
import { CommentRecord, TaskRecord } from './db/entities.ts';
import { TaskRepository, WIRE_STAMP, pageDigestOf, type BoardFilters } from './db/task-repository.ts';
import { Col, taskRecordOf, type TaskRow } from './db/task-rows.ts';
import { pageCacheOf, taskBytesCacheOf, type CachedTask } from './task-bytes-cache.ts';
import { BoardPrefixes, encodeTask, listTasksResponseOf } from './task-wire.ts';
import { isBetween, keyBetween } from './domain/order-keys.ts';
import {
  Violations,
  assertTransition,
  changesBetween,
  checkCommentBody,
  checkDescription,
  checkLabels,
  checkNewTask,
  DEFAULT_PRIORITY,
  checkTitle,
  contentKeyOf,
  type Priority,
  type TaskContent,
  type TaskStatus,
  type UpdatableField,
} from './domain/task-rules.ts';
import {
  beginAddComment,
  beginCreate,
  beginDeleteComment,
  beginLocked,
  beginMove,
  commitAddComment,
  commitChange,
  commitCreate,
  commitDelete,
  commitDeleteComment,
  withOrgWrite,
} from './db/task-writes.ts';
import {
  commentAddedEvent,
  commentDeletedEvent,
  taskCreatedEvents,
  taskDeletedEvent,
  taskMovedEvent,
  taskUpdatedEvents,
} from './events/task-events.ts';
import { etagOf } from './task-messages.ts';

/** Who acts, in which org, with the org-bound EntityManager the org-context chain gave the call. */
export interface TaskScope {
  em: EntityManager;
  orgId: string;
  userId: string;
  /** The caller's authorization header, for the reads made as the caller (the board's order of lists). */
  authorization?: string | undefined;
}

export interface NewTask {
  listId: string | undefined;
  title: string;
  description: string;
  priority: Priority | undefined;
  assignees: string[];
  labels: string[];
  dueTime: Date | null;
}

export interface TaskPatch {
  fields: UpdatableField[];
  values: Partial<TaskContent>;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** A task of a listing as its Task message's bytes, with what its page token needs. */
export interface EncodedTask {
  id: string;
  listId: string;
  position: string;
  bytes: Uint8Array;
}

/** A page of a listing with the ListTasksResponse bytes made of it. */
export interface TaskListing extends Page<EncodedTask> {
  response: Buffer;
}

/** Stands for the row past a page: never served, never in a token. */
const NEXT_PAGE: EncodedTask = { id: '', listId: '', position: '', bytes: new Uint8Array(0) };

function encodedTaskOf(orgId: string, boardId: string, row: TaskRow): EncodedTask {
  return { id: row[Col.id]!, listId: row[Col.listId]!, position: row[Col.position]!, bytes: encodeTask(BoardPrefixes.of(orgId, boardId), row) };
}

/** How often a write that lost a race for a position (or request id) is retried against fresh neighbours. */
const POSITION_ATTEMPTS = 8;

function violatedConstraint(err: unknown): string | undefined {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && typeof e.constraint === 'string' ? e.constraint : undefined;
}

function checkEtag(task: TaskRecord, etag: string | undefined): void {
  if (etag && etag !== etagOf(task.version)) {
    throw new AbortedError('the task changed since it was read; read it again and retry', {
      reason: 'ETAG_MISMATCH',
      metadata: { etag: etagOf(task.version) },
    });
  }
}

/**
 * The task use cases. Remote checks (board and list through BoardService, assignees through OrgService) run
 * before any transaction opens; each mutation and its outbox event commit in one transaction. Task and
 * comment writes are plain SQL in two round trips (db/task-writes.ts).
 */
export class Tasks {
  constructor(
    private readonly boards: BoardDirectory,
    private readonly members: MembershipLookup,
    private readonly log: Logger,
    /**
     * Called after each plain-SQL write commits, with events in the outbox: the relay's nudge (the ORM's commit
     * hook, which nudges it for ORM transactions, does not see these). Without it the relay's poll finds them.
     */
    private readonly afterCommit: () => void = () => {},
  ) {}

  // ---- remote checks (never inside a transaction) -------------------------------------------------

  private async requireList(scope: TaskScope, boardId: string, listId: string, field: string): Promise<void> {
    const { listExists } = await this.boards.check(scope.orgId, boardId, listId);
    if (!listExists) {
      throw new InvalidArgumentError({ field, description: `${listName(scope.orgId, boardId, listId)} is not a list of this board` });
    }
  }

  private async requireMembers(scope: TaskScope, userIds: string[], field = 'task.assignees'): Promise<void> {
    const roles = await Promise.all(userIds.map((id) => this.members.roleOf(scope.orgId, id)));
    const v = new Violations();
    roles.forEach((role, i) => {
      if (!role) v.add(field, `users/${userIds[i]} is not a member of the organization`);
    });
    v.throwIfAny();
  }

  /**
   * NOT_FOUND unless the board is there. Handlers call it before reporting a malformed request about a board,
   * so a board of another org is NOT_FOUND whatever else is wrong with the request.
   */
  async requireBoard(scope: TaskScope, boardId: string): Promise<void> {
    await this.boards.check(scope.orgId, boardId);
  }

  // ---- tasks --------------------------------------------------------------------------------------

  async create(scope: TaskScope, boardId: string, draft: NewTask, requestId: string): Promise<TaskRecord> {
    const v = new Violations();
    checkNewTask(draft, v);
    v.throwIfAny();
    try {
      await this.requireList(scope, boardId, draft.listId!, 'task.list');
      await this.requireMembers(scope, draft.assignees);
    } catch (err) {
      // A create retried with its request id answers with what the first one made, whatever changed since.
      const earlier = requestId ? await new TaskRepository(scope.em.fork()).findTaskByRequestId(requestId) : null;
      if (earlier) return earlier;
      throw err;
    }

    for (let attempt = 1; ; attempt++) {
      let outcome: { task: TaskRecord; created: boolean } | null;
      try {
        outcome = await withOrgWrite(scope.em, scope.orgId, async (tx) => {
          const { earlier, lastPosition } = await beginCreate(tx, draft.listId!, requestId);
          if (earlier) return { task: earlier, created: false };
          const now = new Date();
          const task = {
            id: randomUUID(),
            orgId: scope.orgId,
            boardId,
            listId: draft.listId!,
            position: keyBetween(lastPosition, null),
            title: draft.title,
            description: draft.description,
            status: 'TODO',
            priority: draft.priority ?? DEFAULT_PRIORITY,
            assignees: draft.assignees,
            labels: draft.labels,
            dueTime: draft.dueTime,
            archived: false,
            creatorId: scope.userId,
            createRequestId: requestId || null,
            version: 1,
            createdAt: now,
            updatedAt: now,
          } as TaskRecord;
          return (await commitCreate(tx, task, taskCreatedEvents(task, scope.userId))) ? { task, created: true } : null;
        });
      } catch (err) {
        if (violatedConstraint(err) === 'tasks_create_request_idx') {
          // A concurrent retry with the same request id won: answer with its result.
          const earlier = await new TaskRepository(scope.em.fork()).findTaskByRequestId(requestId);
          if (earlier) return earlier;
        }
        throw err;
      }
      if (outcome) {
        if (outcome.created) this.afterCommit();
        return outcome.task;
      }
      // A concurrent write took the same key (nothing was written): retry against the new last key.
      if (attempt >= POSITION_ATTEMPTS) throw new AbortedError('the list is changing too fast; retry', { reason: 'CONCURRENT_CHANGE' });
      this.log.debug({ attempt, listId: draft.listId }, 'order key taken concurrently; retrying');
    }
  }

  async get(scope: TaskScope, boardId: string, taskId: string): Promise<TaskRecord> {
    return taskRecordOf(scope.orgId, boardId, await this.getRow(scope, boardId, taskId));
  }

  /** The task as its row (PostgreSQL's text), for GetTask to answer with its bytes (task-wire.ts). */
  async getRow(scope: TaskScope, boardId: string, taskId: string): Promise<TaskRow> {
    await this.boards.check(scope.orgId, boardId);
    const row = await new TaskRepository(scope.em).readTaskRow(boardId, taskId);
    if (!row) throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}`);
    return row;
  }

  /** Reads a task for a permission decision (no board check; the handler's own call does that). */
  findForPermission(scope: TaskScope, boardId: string, taskId: string): Promise<TaskRecord | null> {
    return new TaskRepository(scope.em.fork()).findTask(boardId, taskId);
  }

  /**
   * A board's tasks by list (in the board's order of lists) then position. With a list filter only that list
   * is read; otherwise the board service gives the order of the board's live lists, read as the caller.
   * Tasks come as their Task messages' bytes (task-wire.ts), for the handler to send as they are.
   */
  async list(
    scope: TaskScope,
    boardId: string,
    filters: { listId?: string; status?: TaskStatus; assigneeId?: string; label?: string; showArchived: boolean },
    pageSize: number,
    pageToken: string,
  ): Promise<TaskListing> {
    const fingerprint = JSON.stringify(['tasks', boardId, filters]);
    const after = decodePageToken<[string, string, number]>(pageToken, fingerprint);
    let listIds: string[];
    if (filters.listId) {
      await this.requireList(scope, boardId, filters.listId, 'list');
      listIds = [filters.listId];
    } else {
      listIds = await this.boards.listIdsInOrder(scope.orgId, boardId, scope.authorization);
    }
    // The cursor names its list; if that list moved since, resume at its new place, if it is gone, at its old index.
    const resume = after && { listIndex: listIds.includes(after[0]) ? listIds.indexOf(after[0]) : after[2], position: after[1] };
    if (resume && !listIds.includes(after[0])) resume.position = '';
    const repo = new TaskRepository(scope.em);
    // A response made before for the same request, if the page still holds the same row versions (one row read).
    const pages = pageCacheOf<TaskListing>(scope.em);
    const key = JSON.stringify([scope.orgId, boardId, listIds, fingerprint, pageToken, pageSize]);
    const made = pages.get(key);
    if (made && made.digest === (await repo.boardPageDigest(boardId, listIds, filters, resume, pageSize + 1))) return made.page;
    const known = await this.pageFromKnownVersions(scope, repo, boardId, listIds, filters, resume, pageSize);
    const tasks =
      known?.tasks ??
      (await repo.boardPage(boardId, listIds, filters, resume, pageSize + 1)).map((row) => encodedTaskOf(scope.orgId, boardId, row));
    const page = pageOf(tasks, pageSize, (t) => [t.listId, t.position, listIds.indexOf(t.listId)], fingerprint);
    const listing = { ...page, response: listTasksResponseOf(page.items.map((t) => t.bytes), page.nextPageToken) };
    // Counted twice: the response and the tasks' own bytes, which the kept page holds on to as well.
    if (known) pages.set(key, { digest: known.digest, page: listing, bytes: 2 * listing.response.length });
    return listing;
  }

  /**
   * The page as its row versions ([id, xmin/version], one statement), with the bytes of each version taken
   * from the cache of encoded tasks (task-bytes-cache.ts) or, for versions not seen yet, read and encoded now.
   * A task that changed between the two reads makes the page be read again; undefined after three tries (the
   * caller then reads the page's rows in one statement). The page's tasks and order are always those of one
   * statement, and every task's bytes those of the row version that statement saw.
   */
  private async pageFromKnownVersions(
    scope: TaskScope,
    repo: TaskRepository,
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters,
    resume: { listIndex: number; position: string } | undefined,
    pageSize: number,
  ): Promise<{ tasks: EncodedTask[]; digest: string } | undefined> {
    const cache = taskBytesCacheOf(scope.em);
    const board = BoardPrefixes.of(scope.orgId, boardId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const versions = await repo.boardPageVersions(boardId, listIds, filters, resume, pageSize + 1);
      // The row past the page only says that there is a next page: its id stands in for it.
      const tasks: EncodedTask[] = new Array(versions.length);
      const missing = new Map<string, number>();
      for (let i = 0; i < versions.length; i++) {
        const [id, stamp] = versions[i]! as [string, string];
        const known = i < pageSize ? cache.get(id, board, stamp) : NEXT_PAGE;
        if (known) tasks[i] = known;
        else missing.set(id, i);
      }
      if (missing.size > 0) {
        for (const row of await repo.readWireRows(boardId, [...missing.keys()])) {
          const id = row[Col.id]!;
          const i = missing.get(id)!;
          const stamp = versions[i]![1]!;
          if (row[WIRE_STAMP] !== stamp) continue;
          const entry: CachedTask = { id, board, stamp, listId: row[Col.listId]!, position: row[Col.position]!, bytes: encodeTask(board, row) };
          cache.set(id, entry);
          tasks[i] = entry;
          missing.delete(id);
        }
        // Changed or gone since the page was read: read the page again.
        if (missing.size > 0) continue;
      }
      return { tasks, digest: pageDigestOf(versions) };
    }
    return undefined;
  }

  async update(scope: TaskScope, boardId: string, taskId: string, patch: TaskPatch, etag: string): Promise<TaskRecord> {
    const v = new Violations();
    const values = patch.values;
    for (const field of patch.fields) {
      if (field === 'title') checkTitle(values.title ?? '', v);
      if (field === 'description') checkDescription(values.description ?? '', v);
      if (field === 'labels') checkLabels(values.labels ?? [], v);
      if (field === 'status' && !values.status) v.add('task.status', 'must be set');
      if (field === 'priority' && !values.priority) v.add('task.priority', 'must be set');
    }
    v.throwIfAny();
    const before = await this.get(scope, boardId, taskId);
    const wantsAssignees = patch.fields.includes('assignees');
    const checkedNew = wantsAssignees ? (values.assignees ?? []).filter((id) => !before.assignees.includes(id)) : [];
    await this.requireMembers(scope, checkedNew);

    let changed = false;
    const updated = await withOrgWrite(scope.em, scope.orgId, async (tx) => {
      const task = await beginLocked(tx, boardId, taskId);
      if (!task) throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}`);
      checkEtag(task, etag);
      const old: TaskContent = { ...task, assignees: [...task.assignees], labels: [...task.labels] } as TaskContent;
      const added = wantsAssignees ? (values.assignees ?? []).filter((id) => !task.assignees.includes(id)) : [];
      // Someone assigned in between reads would make this update add a user nobody checked: make the caller retry.
      if (added.some((id) => !checkedNew.includes(id))) throw new AbortedError('the task changed concurrently; retry');
      if (patch.fields.includes('status')) assertTransition(task.status as TaskStatus, values.status!);
      const next: TaskContent = { ...old };
      for (const field of patch.fields) {
        const key = contentKeyOf(field);
        (next as unknown as Record<string, unknown>)[key] = key === 'dueTime' ? (values.dueTime ?? null) : values[key];
      }
      const changes = changesBetween(old, next, patch.fields);
      if (changes.length === 0) return task;
      const keys = changes.map((change) => contentKeyOf(change.field));
      for (const key of keys) (task as unknown as Record<string, unknown>)[key] = next[key];
      task.version += 1;
      task.updatedAt = new Date();
      await commitChange(tx, task, [...keys, 'version', 'updatedAt'], taskUpdatedEvents(task, changes, added, scope.userId));
      changed = true;
      return task;
    });
    if (changed) this.afterCommit();
    return updated;
  }

  async move(
    scope: TaskScope,
    boardId: string,
    taskId: string,
    target: { listId?: string; beforeTaskId?: string; afterTaskId?: string },
    etag: string,
  ): Promise<TaskRecord> {
    if (target.listId) await this.requireList(scope, boardId, target.listId, 'list');
    else await this.boards.check(scope.orgId, boardId);
    const anchorId = target.beforeTaskId ?? target.afterTaskId;
    const anchorField = target.beforeTaskId ? 'before_task' : 'after_task';
    if (anchorId === taskId) throw new InvalidArgumentError({ field: anchorField, description: 'must be another task' });

    for (let attempt = 1; ; attempt++) {
      try {
        const moved = await withOrgWrite(scope.em, scope.orgId, async (tx) => {
          const side = target.beforeTaskId ? 'before' : 'after';
          const reads = await beginMove(tx, boardId, taskId, { listId: target.listId, anchorId, side });
          const task = reads.task;
          if (!task) throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}`);
          checkEtag(task, etag);
          const listId = target.listId ?? task.listId;
          let lower: string | null;
          let upper: string | null;
          if (anchorId) {
            const anchor = reads.anchor;
            if (!anchor || anchor.listId !== listId) {
              throw new InvalidArgumentError({ field: anchorField, description: 'must be a task of the target list' });
            }
            if (target.beforeTaskId) {
              upper = anchor.position;
              lower = anchor.neighbour;
            } else {
              lower = anchor.position;
              upper = anchor.neighbour;
            }
          } else {
            lower = reads.lastPosition ?? null;
            upper = null;
          }
          // Already there: nothing changes, no event.
          if (listId === task.listId && isBetween(task.position, lower, upper)) return { task, changed: false };
          const from = { listId: task.listId, position: task.position };
          task.listId = listId;
          task.position = keyBetween(lower, upper);
          task.version += 1;
          task.updatedAt = new Date();
          await commitChange(tx, task, ['listId', 'position', 'version', 'updatedAt'], [taskMovedEvent(task, from, scope.userId)]);
          return { task, changed: true };
        });
        if (moved.changed) this.afterCommit();
        return moved.task;
      } catch (err) {
        // Another move or create took the same key in the same gap: retry against the new neighbours.
        if (violatedConstraint(err) === 'tasks_list_position_idx') {
          if (attempt < POSITION_ATTEMPTS) {
            this.log.debug({ attempt, taskId }, 'order key taken concurrently; retrying');
            continue;
          }
          throw new AbortedError('the list is changing too fast; retry', { reason: 'CONCURRENT_CHANGE' });
        }
        throw err;
      }
    }
  }

  async delete(scope: TaskScope, boardId: string, taskId: string, etag: string): Promise<void> {
    await this.boards.check(scope.orgId, boardId);
    await withOrgWrite(scope.em, scope.orgId, async (tx) => {
      const task = await beginLocked(tx, boardId, taskId);
      if (!task) throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}`);
      checkEtag(task, etag);
      await commitDelete(tx, task.id, [taskDeletedEvent(task, scope.userId)]);
    });
    this.afterCommit();
  }

  async search(
    scope: TaskScope,
    filters: { query: string; assigneeId?: string; status?: TaskStatus; dueBefore?: Date },
    pageSize: number,
    pageToken: string,
  ): Promise<Page<TaskRecord>> {
    const fingerprint = JSON.stringify(['search', filters]);
    const after = decodePageToken<[number | string, string]>(pageToken, fingerprint);
    const repo = new TaskRepository(scope.em);
    const hits = await repo.search(scope.orgId, filters, after, pageSize + 1);
    const page = pageOf(hits, pageSize, (h) => [h.key, h.id], fingerprint);
    const tasks = new Map((await repo.findTasksByIds(page.items.map((h) => h.id))).map((t) => [t.id, t]));
    // A deleted board's tasks are never served: ask the board service about each board on the page. The page
    // may come out shorter than page_size, which AIP-158 allows; the token still continues after the last hit.
    const liveBoards = new Set<string>();
    await Promise.all(
      [...new Set([...tasks.values()].map((t) => t.boardId))].map(async (boardId) => {
        try {
          await this.boards.check(scope.orgId, boardId);
          liveBoards.add(boardId);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }),
    );
    const items = page.items.map((h) => tasks.get(h.id)).filter((t): t is TaskRecord => !!t && liveBoards.has(t.boardId));
    return { items, nextPageToken: page.nextPageToken };
  }

  /** For BoardService's DeleteList check: the list's tasks, archived ones included. */
  countInList(scope: Pick<TaskScope, 'em'>, listId: string): Promise<number> {
    return new TaskRepository(scope.em).countInList(listId);
  }

  // ---- comments -----------------------------------------------------------------------------------

  async addComment(scope: TaskScope, boardId: string, taskId: string, body: string, requestId: string): Promise<CommentRecord> {
    const v = new Violations();
    checkCommentBody(body, v);
    v.throwIfAny();
    await this.boards.check(scope.orgId, boardId);
    let added: { comment: CommentRecord; created: boolean };
    try {
      added = await withOrgWrite(scope.em, scope.orgId, async (tx) => {
        const { taskExists, earlier } = await beginAddComment(tx, boardId, taskId, requestId);
        if (!taskExists) throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}`);
        if (earlier) return { comment: earlier, created: false };
        const comment = {
          id: randomUUID(),
          orgId: scope.orgId,
          seq: null,
          taskId,
          boardId,
          authorId: scope.userId,
          body,
          createRequestId: requestId || null,
          createdAt: new Date(),
        } as CommentRecord;
        await commitAddComment(tx, comment, [commentAddedEvent(comment, scope.userId)]);
        return { comment, created: true };
      });
    } catch (err) {
      if (violatedConstraint(err) === 'comments_create_request_idx') {
        // A concurrent retry with the same request id won: answer with its result.
        const earlier = await new TaskRepository(scope.em.fork()).findCommentByRequestId(requestId);
        if (earlier) return earlier;
      }
      throw err;
    }
    if (added.created) this.afterCommit();
    return added.comment;
  }

  async listComments(scope: TaskScope, boardId: string, taskId: string, pageSize: number, pageToken: string): Promise<Page<CommentRecord>> {
    const fingerprint = JSON.stringify(['comments', taskId]);
    const after = decodePageToken<string>(pageToken, fingerprint);
    if (after !== undefined && !/^\d{1,19}$/.test(after)) throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    await this.get(scope, boardId, taskId);
    const rows = await new TaskRepository(scope.em).commentPage(taskId, after, pageSize + 1);
    return pageOf(rows, pageSize, (c) => c.seq!, fingerprint);
  }

  /** Reads a comment for a permission decision. */
  findCommentForPermission(scope: TaskScope, boardId: string, taskId: string, commentId: string): Promise<CommentRecord | null> {
    return new TaskRepository(scope.em.fork()).findComment(taskId, commentId).then((c) => (c && c.boardId === boardId ? c : null));
  }

  async deleteComment(scope: TaskScope, boardId: string, taskId: string, commentId: string): Promise<void> {
    await this.boards.check(scope.orgId, boardId);
    await withOrgWrite(scope.em, scope.orgId, async (tx) => {
      const comment = await beginDeleteComment(tx, taskId, commentId);
      if (!comment || comment.boardId !== boardId) {
        throw new NotFoundError(`${boardName(scope.orgId, boardId)}/tasks/${taskId}/comments/${commentId}`);
      }
      await commitDeleteComment(tx, comment.id, [commentDeletedEvent(comment, scope.userId)]);
    });
    this.afterCommit();
  }
}
