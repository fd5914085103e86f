import { randomUUID } from 'node:crypto';
import { AbortedError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import type { MembershipLookup } from '@taskmesh/runtime/membership-lookup';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { decodePageToken, pageOf } from '@taskmesh/runtime/paging';
import { boardName, listName, type BoardDirectory } from '../board-directory.ts';
import { BoardListing, type ListingCaches, type TaskListing } from '../db/board-listing.ts';
import type { Change, TaskRow, TaskStore } from '../db/task-store.ts';
import {
  commentAddedEvent,
  commentDeletedEvent,
  taskCreatedEvents,
  taskDeletedEvent,
  taskMovedEvent,
  taskUpdatedEvents,
} from '../events/task-events.ts';
import { etagOf } from '../task-mapping.ts';
import { isBetween, keyBetween } from './order-keys.ts';
import { NULL_FIELDS, type CreatableContent, type Task, type TaskComment, type TaskContent, type TaskKey, type UpdatableField } from './task-fields.ts';
import {
  Violations,
  assertTransition,
  changesBetween,
  checkCommentBody,
  checkDescription,
  checkLabels,
  checkNewTask,
  checkTitle,
  contentKeyOf,
  type TaskStatus,
} from './task-rules.ts';

/** A new task: its list and what CreateTask takes (domain/task-fields.ts). */
export type NewTask = Partial<CreatableContent> & Pick<CreatableContent, 'title' | 'description' | 'assignees' | 'labels'> & { listId: string | undefined };

export interface TaskPatch {
  fields: UpdatableField[];
  values: Partial<TaskContent>;
}

/** One request of a BatchUpdateTasks: which task, what to change, and the etag it was read at (or ''). */
export interface BatchItem {
  taskId: string;
  patch: TaskPatch;
  etag: string;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** The caller's context: the runtime's (org-context.ts); only org, principal, em and call are read. */
export type TaskContext = Pick<TenantContext, 'em' | 'org' | 'principal' | 'call'>;

const authorizationOf = (ctx: TaskContext) => {
  const value = ctx.call.metadata.get('authorization')[0];
  return typeof value === 'string' ? value : undefined;
};
const taskPath = (ctx: TaskContext, boardId: string, taskId: string) => `${boardName(ctx.org.id, boardId)}/tasks/${taskId}`;

function checkEtag(task: Task, etag: string | undefined): void {
  if (etag && etag !== etagOf(task.version)) {
    throw new AbortedError('the task changed since it was read; read it again and retry', {
      reason: 'ETAG_MISMATCH',
      metadata: { etag: etagOf(task.version) },
    });
  }
}

/** UpdateTask's rules on the values of a patch, before anything is read. */
function checkPatch(patch: TaskPatch, v: Violations): void {
  const values = patch.values;
  for (const field of patch.fields) {
    if (field === 'title') checkTitle(values.title ?? '', v);
    if (field === 'description') checkDescription(values.description ?? '', v);
    if (field === 'labels') checkLabels(values.labels ?? [], v);
    if (field === 'status' && !values.status) v.add('task.status', 'must be set');
    if (field === 'priority' && !values.priority) v.add('task.priority', 'must be set');
  }
}

/** The assignees a patch would add to the task: the ones org must confirm are members. */
function addedAssignees(task: Task, patch: TaskPatch): string[] {
  return patch.fields.includes('assignees') ? (patch.values.assignees ?? []).filter((id) => !task.assignees.includes(id)) : [];
}

/**
 * A checked patch applied to the locked task: etag, then workflow, then the change and its events (null when
 * nothing changes). `checkedNew` are the added assignees confirmed as members before the transaction.
 */
function applyPatch(task: Task, patch: TaskPatch, etag: string, checkedNew: readonly string[], actorId: string): Change | null {
  checkEtag(task, etag);
  const values = patch.values;
  const old = { ...task, assignees: [...task.assignees], labels: [...task.labels] } as TaskContent;
  const added = addedAssignees(task, patch);
  // Someone assigned in between reads would make this update add a user nobody checked: make the caller retry.
  if (added.some((id) => !checkedNew.includes(id))) throw new AbortedError('the task changed concurrently; retry');
  if (patch.fields.includes('status')) assertTransition(task.status as TaskStatus, values.status as TaskStatus);
  const next: TaskContent = { ...old };
  for (const field of patch.fields) {
    const key = contentKeyOf(field);
    (next as Record<string, unknown>)[key] = values[key] ?? null;
  }
  const changes = changesBetween(old, next, patch.fields);
  if (changes.length === 0) return null;
  const keys: TaskKey[] = changes.map((change) => contentKeyOf(change.field));
  for (const key of keys) (task as Record<string, unknown>)[key] = next[key as keyof TaskContent];
  task.version += 1;
  task.updatedAt = new Date();
  return { keys: [...keys, 'version', 'updatedAt'], events: taskUpdatedEvents(task, changes, added, actorId) };
}

/**
 * The task use cases: the rules of tasks and comments around the store. Remote checks (board and list through
 * BoardService, assignees through OrgService) run before any transaction opens; each change and its outbox
 * events commit in one transaction of the store (db/task-store.ts), whose commit nudges the outbox relay.
 */
export class Tasks {
  private readonly listing: BoardListing;

  constructor(
    private readonly store: TaskStore,
    private readonly boards: BoardDirectory,
    private readonly members: MembershipLookup,
    /** Pages and task bytes of board listings (db/board-listing.ts), made where the service is composed. */
    listingCaches: ListingCaches,
  ) {
    this.listing = new BoardListing(store, listingCaches);
  }

  // ---- remote checks (never inside a transaction) -------------------------------------------------

  private async requireList(ctx: TaskContext, boardId: string, listId: string, field: string): Promise<void> {
    const { listExists } = await this.boards.check(ctx.org.id, boardId, listId);
    if (!listExists) {
      throw new InvalidArgumentError({ field, description: `${listName(ctx.org.id, boardId, listId)} is not a list of this board` });
    }
  }

  private async requireMembers(ctx: TaskContext, userIds: string[], field = 'task.assignees'): Promise<void> {
    const roles = await Promise.all(userIds.map((id) => this.members.roleOf(ctx.org.id, id)));
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
  async requireBoard(ctx: TaskContext, boardId: string): Promise<void> {
    await this.boards.check(ctx.org.id, boardId);
  }

  // ---- tasks --------------------------------------------------------------------------------------

  async create(ctx: TaskContext, boardId: string, draft: NewTask, requestId: string): Promise<Task> {
    const v = new Violations();
    checkNewTask(draft, v);
    v.throwIfAny();
    try {
      await this.requireList(ctx, boardId, draft.listId!, 'task.list');
      await this.requireMembers(ctx, draft.assignees);
    } catch (err) {
      // A create retried with its request id answers with what the first one made, whatever changed since.
      const earlier = requestId ? await this.store.findByRequestId(ctx, requestId) : null;
      if (earlier) return earlier;
      throw err;
    }
    const { listId, ...content } = draft;
    const { task } = await this.store.create(ctx, listId!, requestId, (lastPosition) => {
      const now = new Date();
      const made: Task = {
        ...NULL_FIELDS,
        ...content,
        id: randomUUID(),
        orgId: ctx.org.id,
        boardId,
        listId: listId!,
        position: keyBetween(lastPosition, null),
        status: 'TODO',
        archived: false,
        creatorId: ctx.principal.userId,
        createRequestId: requestId || null,
        version: 1,
        createdAt: now,
        updatedAt: now,
      } as Task;
      return { task: made, events: taskCreatedEvents(made, ctx.principal.userId) };
    });
    return task;
  }

  async get(ctx: TaskContext, boardId: string, taskId: string): Promise<Task> {
    await this.boards.check(ctx.org.id, boardId);
    const task = await this.store.get(ctx, boardId, taskId);
    if (!task) throw new NotFoundError(taskPath(ctx, boardId, taskId));
    return task;
  }

  /** The task as its row, for GetTask to answer with its bytes (db/task-bytes.ts). */
  async getRow(ctx: TaskContext, boardId: string, taskId: string): Promise<TaskRow> {
    await this.boards.check(ctx.org.id, boardId);
    const row = await this.store.getRow(ctx, boardId, taskId);
    if (!row) throw new NotFoundError(taskPath(ctx, boardId, taskId));
    return row;
  }

  /** Reads a task for a permission decision (no board check; the handler's own call does that). */
  findForPermission(ctx: TaskContext, boardId: string, taskId: string): Promise<Task | null> {
    return this.store.get(ctx, boardId, taskId);
  }

  /**
   * A board's tasks by list (in the board's order of lists) then position. With a list filter only that list
   * is read; otherwise the board service gives the order of the board's live lists, read as the caller.
   */
  async list(
    ctx: TaskContext,
    boardId: string,
    filters: { listId?: string; status?: TaskStatus; assigneeId?: string; label?: string; showArchived: boolean },
    pageSize: number,
    pageToken: string,
  ): Promise<TaskListing> {
    let listIds: string[];
    if (filters.listId) {
      await this.requireList(ctx, boardId, filters.listId, 'list');
      listIds = [filters.listId];
    } else {
      listIds = await this.boards.listIdsInOrder(ctx.org.id, boardId, authorizationOf(ctx));
    }
    return this.listing.page(ctx, boardId, listIds, filters, pageSize, pageToken);
  }

  async update(ctx: TaskContext, boardId: string, taskId: string, patch: TaskPatch, etag: string): Promise<Task> {
    const v = new Violations();
    checkPatch(patch, v);
    v.throwIfAny();
    const before = await this.get(ctx, boardId, taskId);
    const checkedNew = addedAssignees(before, patch);
    await this.requireMembers(ctx, checkedNew);
    const outcome = await this.store.update(ctx, boardId, taskId, (task) => applyPatch(task, patch, etag, checkedNew, ctx.principal.userId));
    if (!outcome) throw new NotFoundError(taskPath(ctx, boardId, taskId));
    return outcome.task;
  }

  /**
   * UpdateTask's rules for several tasks of one board, all in one transaction of the store: a request that
   * fails any rule (or names a task not on the board) changes nothing. Tasks come back in request order.
   */
  async batchUpdate(ctx: TaskContext, boardId: string, requests: readonly BatchItem[]): Promise<Task[]> {
    const v = new Violations();
    const first = new Map<string, number>();
    requests.forEach((request, i) => {
      const item = new Violations();
      checkPatch(request.patch, item);
      v.addUnder(`requests[${i}]`, item);
      // One change per task: two requests for one task would have no order to apply them in.
      const earlier = first.get(request.taskId);
      if (earlier !== undefined) v.add(`requests[${i}].task.name`, `names the same task as requests[${earlier}]`);
      else first.set(request.taskId, i);
    });
    v.throwIfAny();
    await this.boards.check(ctx.org.id, boardId);
    const ids = requests.map((r) => r.taskId);
    const before = new Map((await this.store.byIds(ctx, ids)).map((t) => [t.id, t]));
    const missing = ids.find((id) => before.get(id)?.boardId !== boardId);
    if (missing) throw new NotFoundError(taskPath(ctx, boardId, missing));
    const checkedNew = requests.map((r) => addedAssignees(before.get(r.taskId)!, r.patch));
    await Promise.all(checkedNew.map((userIds, i) => this.requireMembers(ctx, userIds, `requests[${i}].task.assignees`)));

    const outcome = await this.store.updateMany(ctx, boardId, ids, (task, i) =>
      applyPatch(task, requests[i]!.patch, requests[i]!.etag, checkedNew[i]!, ctx.principal.userId),
    );
    if ('missing' in outcome) throw new NotFoundError(taskPath(ctx, boardId, outcome.missing));
    return outcome.tasks;
  }

  async move(
    ctx: TaskContext,
    boardId: string,
    taskId: string,
    target: { listId?: string; beforeTaskId?: string; afterTaskId?: string },
    etag: string,
  ): Promise<Task> {
    if (target.listId) await this.requireList(ctx, boardId, target.listId, 'list');
    else await this.boards.check(ctx.org.id, boardId);
    const anchorId = target.beforeTaskId ?? target.afterTaskId;
    const anchorField = target.beforeTaskId ? 'before_task' : 'after_task';
    if (anchorId === taskId) throw new InvalidArgumentError({ field: anchorField, description: 'must be another task' });
    const side = target.beforeTaskId ? 'before' : 'after';
    const outcome = await this.store.move(ctx, boardId, taskId, { listId: target.listId, anchorId, side }, (task, reads): Change | null => {
      checkEtag(task, etag);
      const listId = target.listId ?? task.listId;
      let lower: string | null;
      let upper: string | null;
      if (anchorId) {
        const anchor = reads.anchor;
        if (!anchor || anchor.listId !== listId) {
          throw new InvalidArgumentError({ field: anchorField, description: 'must be a task of the target list' });
        }
        [lower, upper] = side === 'before' ? [anchor.neighbour, anchor.position] : [anchor.position, anchor.neighbour];
      } else {
        lower = reads.lastPosition ?? null;
        upper = null;
      }
      // Already there: nothing changes, no event.
      if (listId === task.listId && isBetween(task.position, lower, upper)) return null;
      const from = { listId: task.listId, position: task.position };
      task.listId = listId;
      task.position = keyBetween(lower, upper);
      task.version += 1;
      task.updatedAt = new Date();
      return { keys: ['listId', 'position', 'version', 'updatedAt'], events: [taskMovedEvent(task, from, ctx.principal.userId)] };
    });
    if (!outcome) throw new NotFoundError(taskPath(ctx, boardId, taskId));
    return outcome.task;
  }

  async delete(ctx: TaskContext, boardId: string, taskId: string, etag: string): Promise<void> {
    await this.boards.check(ctx.org.id, boardId);
    const deleted = await this.store.delete(ctx, boardId, taskId, (task) => {
      checkEtag(task, etag);
      return [taskDeletedEvent(task, ctx.principal.userId)];
    });
    if (!deleted) throw new NotFoundError(taskPath(ctx, boardId, taskId));
  }

  async search(
    ctx: TaskContext,
    filters: { query: string; assigneeId?: string; status?: TaskStatus; dueBefore?: Date },
    pageSize: number,
    pageToken: string,
  ): Promise<Page<Task>> {
    const fingerprint = JSON.stringify(['search', filters]);
    const after = decodePageToken<[number | string, string]>(pageToken, fingerprint);
    const hits = await this.store.search(ctx, filters, after, pageSize + 1);
    const page = pageOf(hits, pageSize, (h) => [h.key, h.id], fingerprint);
    const tasks = new Map((await this.store.byIds(ctx, page.items.map((h) => h.id))).map((t) => [t.id, t]));
    // A deleted board's tasks are never served: ask the board service about each board on the page. The page
    // may come out shorter than page_size, which AIP-158 allows; the token still continues after the last hit.
    const liveBoards = new Set<string>();
    await Promise.all(
      [...new Set([...tasks.values()].map((t) => t.boardId))].map(async (boardId) => {
        try {
          await this.boards.check(ctx.org.id, boardId);
          liveBoards.add(boardId);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }),
    );
    const items = page.items.map((h) => tasks.get(h.id)).filter((t): t is Task => !!t && liveBoards.has(t.boardId));
    return { items, nextPageToken: page.nextPageToken };
  }

  /** For BoardService's DeleteList check: the list's tasks, archived ones included. */
  countInList(ctx: Pick<TaskContext, 'em' | 'org'>, listId: string): Promise<number> {
    return this.store.countInList(ctx, listId);
  }

  /** For the platform administration's organization list: every task of the org, archived ones included. */
  countInOrg(ctx: Pick<TaskContext, 'em' | 'org'>): Promise<number> {
    return this.store.countInOrg(ctx);
  }

  // ---- comments -----------------------------------------------------------------------------------

  async addComment(ctx: TaskContext, boardId: string, taskId: string, body: string, requestId: string): Promise<TaskComment> {
    const v = new Violations();
    checkCommentBody(body, v);
    v.throwIfAny();
    await this.boards.check(ctx.org.id, boardId);
    const added = await this.store.addComment(ctx, boardId, taskId, requestId, () => {
      const comment: TaskComment = {
        id: randomUUID(),
        orgId: ctx.org.id,
        seq: null,
        taskId,
        boardId,
        authorId: ctx.principal.userId,
        body,
        createRequestId: requestId || null,
        createdAt: new Date(),
      };
      return { comment, events: [commentAddedEvent(comment, ctx.principal.userId)] };
    });
    if (!added) throw new NotFoundError(taskPath(ctx, boardId, taskId));
    return added.comment;
  }

  async listComments(ctx: TaskContext, boardId: string, taskId: string, pageSize: number, pageToken: string): Promise<Page<TaskComment>> {
    const fingerprint = JSON.stringify(['comments', taskId]);
    const after = decodePageToken<string>(pageToken, fingerprint);
    if (after !== undefined && !/^\d{1,19}$/.test(after)) throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    await this.get(ctx, boardId, taskId);
    const rows = await this.store.commentPage(ctx, taskId, after, pageSize + 1);
    return pageOf(rows, pageSize, (c) => c.seq!, fingerprint);
  }

  /** One page of every task of the org, in id order: `nextPageToken` is the last id of a full page. */
  async exportTaskPage(ctx: TaskContext, afterId: string, limit: number): Promise<{ items: Task[]; nextPageToken: string }> {
    const rows = await this.store.orgTaskPage(ctx, afterId || undefined, limit);
    return { items: rows, nextPageToken: rows.length === limit ? rows[rows.length - 1]!.id : '' };
  }

  /** One page of every comment of the org, oldest first: `nextPageToken` is the last sequence of a full page. */
  async exportCommentPage(ctx: TaskContext, afterSeq: string, limit: number): Promise<{ items: TaskComment[]; nextPageToken: string }> {
    const rows = await this.store.orgCommentPage(ctx, afterSeq || undefined, limit);
    return { items: rows, nextPageToken: rows.length === limit ? rows[rows.length - 1]!.seq! : '' };
  }

  /** Reads a comment for a permission decision. */
  async findCommentForPermission(ctx: TaskContext, boardId: string, taskId: string, commentId: string): Promise<TaskComment | null> {
    const comment = await this.store.findComment(ctx, taskId, commentId);
    return comment && comment.boardId === boardId ? comment : null;
  }

  async deleteComment(ctx: TaskContext, boardId: string, taskId: string, commentId: string): Promise<void> {
    await this.boards.check(ctx.org.id, boardId);
    const deleted = await this.store.deleteComment(ctx, taskId, commentId, (comment) => {
      if (comment.boardId !== boardId) throw new NotFoundError(`${taskPath(ctx, boardId, taskId)}/comments/${commentId}`);
      return [commentDeletedEvent(comment, ctx.principal.userId)];
    });
    if (!deleted) throw new NotFoundError(`${taskPath(ctx, boardId, taskId)}/comments/${commentId}`);
  }
}
