import type { Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import type { TenantAwareService, TenantContext } from '@taskmesh/runtime/org-context';
import { pageSizeOf } from '@taskmesh/runtime/paging';
import { orgIdOf } from '@taskmesh/runtime/resource-names';
import { exportContext, forEachPaged } from '@taskmesh/runtime/org-export';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { EncodedMessage, encodeTaskResponse } from '../db/task-bytes.ts';
import { UPDATABLE_FIELDS, Violations, checkNewTask, DEFAULT_PRIORITY, type UpdatableField } from '../domain/task-rules.ts';
import type { BatchItem, Tasks } from '../domain/tasks.ts';
import { CREATE_PATHS, contentOf, presentFieldsOf, statusFromProto, toCommentMessage, toTaskMessage } from '../task-mapping.ts';
import type { TaskServiceDefinition } from './task-service-definition.ts';
import type { taskAccessTable } from './access-table.ts';
import { anchorTaskIdOf, boardIdsOf, commentIdsOf, listIdOf, taskIdsOf, userFilterOf } from './task-names.ts';

/** The most updates one BatchUpdateTasks may carry (API.md). */
export const BATCH_UPDATE_MAX = 100;

const IMMUTABLE_FIELDS = new Set(['name', 'list', 'position', 'creator', 'etag', 'create_time', 'update_time']);
/** Runs a name parser, turning its INVALID_ARGUMENT into violations of `v`. */
function collect<T>(v: Violations, parse: () => T): T | undefined {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    v.list.push(...err.violations);
    return undefined;
  }
}

/**
 * A request about a board (or task) that is not there is NOT_FOUND, whatever else is wrong with it: another
 * org's ids reveal nothing through validation. Only then are the request's violations reported.
 */
async function reject(v: Violations, tasks: Tasks, tc: TenantContext, boardId: string, taskId?: string): Promise<void> {
  if (v.list.length === 0) return;
  if (taskId) await tasks.get(tc, boardId, taskId);
  else await tasks.requireBoard(tc, boardId);
  v.throwIfAny();
}

const snake = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The fields an UpdateTask changes: the mask's paths (camelCase accepted), or with an empty mask every
 * updatable field the task carries with a non-default value.
 */
function updatedFieldsOf(task: Task, mask: string[] | undefined): UpdatableField[] {
  const paths = (mask ?? []).flatMap((p) => p.split(',')).map((p) => snake(p.trim())).filter(Boolean);
  if (paths.length === 0) return presentFieldsOf(task);
  const v = new Violations();
  for (const path of paths) {
    if (IMMUTABLE_FIELDS.has(path)) v.add('update_mask', `${path} cannot be updated${path === 'list' || path === 'position' ? ' (use MoveTask)' : ''}`);
    else if (!(UPDATABLE_FIELDS as readonly string[]).includes(path)) v.add('update_mask', `${path} is not a field of Task`);
  }
  v.throwIfAny();
  return [...new Set(paths)] as UpdatableField[];
}

export function taskHandlers(tasks: Tasks): TenantAwareService<TaskServiceDefinition, ReturnType<typeof taskAccessTable>> {
  return {
    async createTask(req, tc) {
      const board = boardIdsOf(req.parent);
      const task = req.task;
      if (!task) throw new InvalidArgumentError({ field: 'task', description: 'is required' });
      const v = new Violations();
      const listId = task.list ? collect(v, () => listIdOf(task.list, board, 'task.list')) : undefined;
      const content = contentOf(task, CREATE_PATHS, v, true);
      const draft = { title: '', description: '', assignees: [], labels: [], ...content, listId };
      checkNewTask({ ...draft, listId: task.list ? 'named' : undefined }, v);
      // Unset (0) takes the default; a number that is no priority at all is refused.
      if (task.priority !== 0 && !draft.priority) v.add('task.priority', 'must be PRIORITY_LOW, PRIORITY_MEDIUM, PRIORITY_HIGH or PRIORITY_URGENT');
      await reject(v, tasks, tc, board.board);
      const created = await tasks.create(tc, board.board, { ...draft, priority: draft.priority || DEFAULT_PRIORITY }, req.requestId);
      return { task: toTaskMessage(created) };
    },

    async getTask(req, tc) {
      const ids = taskIdsOf(req.name);
      return new EncodedMessage(encodeTaskResponse(tc.org.id, ids.board, await tasks.getRow(tc, ids.board, ids.task)));
    },

    async listTasks(req, tc) {
      const board = boardIdsOf(req.parent);
      const pageSize = pageSizeOf(req.pageSize);
      const v = new Violations();
      const status = req.status === 0 ? undefined : statusFromProto(req.status);
      if (req.status !== 0 && !status) v.add('status', 'is not a task status');
      const listId = req.list ? collect(v, () => listIdOf(req.list, board, 'list')) : undefined;
      const assigneeId = req.assignee ? collect(v, () => userFilterOf(req.assignee, 'assignee')) : undefined;
      await reject(v, tasks, tc, board.board);
      const page = await tasks.list(
        tc,
        board.board,
        {
          ...(listId ? { listId } : {}),
          ...(status ? { status } : {}),
          ...(assigneeId ? { assigneeId } : {}),
          ...(req.label ? { label: req.label } : {}),
          showArchived: req.showArchived,
        },
        pageSize,
        req.pageToken,
      );
      // The rows' bytes, made without Task objects (db/task-bytes.ts): the same bytes ts-proto would send.
      return new EncodedMessage(page.response);
    },

    async searchTasks(req, tc) {
      const pageSize = pageSizeOf(req.pageSize);
      const status = req.status === 0 ? undefined : statusFromProto(req.status);
      if (req.status !== 0 && !status) throw new InvalidArgumentError({ field: 'status', description: 'is not a task status' });
      if (req.query.length > 1_000) throw new InvalidArgumentError({ field: 'query', description: 'must be at most 1000 characters' });
      const page = await tasks.search(
        tc,
        {
          query: req.query,
          ...(req.assignee ? { assigneeId: userFilterOf(req.assignee, 'assignee')! } : {}),
          ...(status ? { status } : {}),
          ...(req.dueBefore ? { dueBefore: req.dueBefore } : {}),
        },
        pageSize,
        req.pageToken,
      );
      return { tasks: page.items.map(toTaskMessage), nextPageToken: page.nextPageToken };
    },

    async updateTask(req, tc) {
      const task = req.task;
      if (!task) throw new InvalidArgumentError({ field: 'task', description: 'is required' });
      const ids = taskIdsOf(task.name, 'task.name');
      const v = new Violations();
      const fields = collect(v, () => updatedFieldsOf(task, req.updateMask)) ?? [];
      const values = contentOf(task, fields, v);
      await reject(v, tasks, tc, ids.board, ids.task);
      const updated = await tasks.update(tc, ids.board, ids.task, { fields, values }, task.etag);
      return { task: toTaskMessage(updated) };
    },

    async batchUpdateTasks(req, tc) {
      const board = boardIdsOf(req.parent);
      const v = new Violations();
      if (req.requests.length === 0) v.add('requests', 'must hold at least one update');
      if (req.requests.length > BATCH_UPDATE_MAX) v.add('requests', `must hold at most ${BATCH_UPDATE_MAX} updates`);
      const items: BatchItem[] = [];
      // Each request is read as UpdateTask reads it; its violations are reported under requests[i].
      req.requests.slice(0, BATCH_UPDATE_MAX).forEach((request, i) => {
        const at = `requests[${i}]`;
        const task = request.task;
        if (!task) return v.add(`${at}.task`, 'is required');
        const ids = collect(v, () => taskIdsOf(task.name, `${at}.task.name`));
        const item = new Violations();
        const fields = collect(item, () => updatedFieldsOf(task, request.updateMask)) ?? [];
        const values = contentOf(task, fields, item);
        v.addUnder(at, item);
        if (!ids) return;
        if (ids.org !== board.org || ids.board !== board.board) return v.add(`${at}.task.name`, `must be a task of ${req.parent}`);
        items.push({ taskId: ids.task, patch: { fields, values }, etag: task.etag });
      });
      await reject(v, tasks, tc, board.board);
      const updated = await tasks.batchUpdate(tc, board.board, items);
      return { tasks: updated.map(toTaskMessage) };
    },

    async deleteTask(req, tc) {
      const ids = taskIdsOf(req.name);
      await tasks.delete(tc, ids.board, ids.task, req.etag);
      return {};
    },

    async moveTask(req, tc) {
      const ids = taskIdsOf(req.name);
      const v = new Violations();
      if (req.beforeTask && req.afterTask) v.add('after_task', 'set at most one of before_task and after_task');
      const listId = req.list ? collect(v, () => listIdOf(req.list, ids, 'list')) : undefined;
      const beforeTaskId = req.beforeTask ? collect(v, () => anchorTaskIdOf(req.beforeTask!, ids, 'before_task')) : undefined;
      const afterTaskId = req.afterTask ? collect(v, () => anchorTaskIdOf(req.afterTask!, ids, 'after_task')) : undefined;
      await reject(v, tasks, tc, ids.board, ids.task);
      const target = {
        ...(listId ? { listId } : {}),
        ...(beforeTaskId ? { beforeTaskId } : {}),
        ...(afterTaskId ? { afterTaskId } : {}),
      };
      return { task: toTaskMessage(await tasks.move(tc, ids.board, ids.task, target, req.etag)) };
    },

    async createComment(req, tc) {
      const ids = taskIdsOf(req.parent, 'parent');
      const comment = await tasks.addComment(tc, ids.board, ids.task, req.comment?.body ?? '', req.requestId);
      return { comment: toCommentMessage(comment) };
    },

    async listComments(req, tc) {
      const ids = taskIdsOf(req.parent, 'parent');
      const page = await tasks.listComments(tc, ids.board, ids.task, pageSizeOf(req.pageSize), req.pageToken);
      return { comments: page.items.map(toCommentMessage), nextPageToken: page.nextPageToken };
    },

    async deleteComment(req, tc) {
      const ids = commentIdsOf(req.name);
      await tasks.deleteComment(tc, ids.board, ids.task, ids.comment);
      return {};
    },

    async countListTasks(req, ic) {
      const match = /^organizations\/([^/]+)\/boards\/([^/]+)\/lists\/([^/]+)$/.exec(req.name);
      if (!match) throw new InvalidArgumentError({ field: 'name', description: 'must be organizations/{org}/boards/{board}/lists/{list}' });
      const listId = listIdOf(req.name, { org: match[1]!, board: match[2]! }, 'name');
      const org = boardIdsOf(`organizations/${match[1]}/boards/${match[2]}`, 'name').org;
      return { taskCount: await tasks.countInList({ em: forkForOrg(ic.em, org), org: { id: org, name: `organizations/${org}` } }, listId) };
    },

    async countOrganizationTasks(req, ic) {
      if (req.organizations.length > 100) throw new InvalidArgumentError({ field: 'organizations', description: 'at most 100' });
      const counts: Record<string, string> = {};
      // One count per org, each bound to its org (both walls), one after another: at most a page of orgs.
      for (const [index, name] of req.organizations.entries()) {
        const org = orgIdOf(name, `organizations[${index}]`);
        counts[name] = String(await tasks.countInOrg({ em: forkForOrg(ic.em, org), org: { id: org, name: `organizations/${org}` } }));
      }
      return { taskCounts: counts };
    },
    async exportOrganizationData(req, ic, stream) {
      const tc = exportContext(ic, req.name);
      await forEachPaged(
        stream,
        (pageToken, pageSize) => tasks.exportTaskPage(tc, pageToken, pageSize),
        (task) => stream.write({ task: toTaskMessage(task) }),
      );
      await forEachPaged(
        stream,
        (pageToken, pageSize) => tasks.exportCommentPage(tc, pageToken, pageSize),
        (comment) => stream.write({ comment: toCommentMessage(comment) }),
      );
    },
  };
}
