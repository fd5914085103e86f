import { LockMode, type FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CommentRecord, TaskRecord } from './entities.ts';
import { selectInOrg } from './one-trip-read.ts';

/**
 * Every query on tasks and comments. The EntityManager is always an org fork (forkForOrg): the tenant filter
 * adds org_id to every ORM query, and the raw search query names org_id itself; RLS holds behind both.
 */
export class TaskRepository {
  constructor(private readonly em: EntityManager) {}

  findTask(boardId: string, id: string, options: { lock?: boolean } = {}): Promise<TaskRecord | null> {
    return this.em.findOne(TaskRecord, { id, boardId }, options.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  }

  /**
   * A task to read and answer with, never to change: one row, not an entity (no identity map, no unit of
   * work). The org is named in the query; RLS holds behind it as for every query.
   */
  async readTask(boardId: string, id: string): Promise<TaskRecord | null> {
    const sql = `select ${TASK_COLUMNS} from tasks t where t.org_id = ? and t.id = ? and t.board_id = ?`;
    const orgId = this.orgId();
    // Outside a transaction, one round trip instead of four (one-trip-read.ts); inside one, its own connection.
    const rows = this.em.isInTransaction()
      ? await this.em.execute<TaskRow[]>(sql, [orgId, id, boardId])
      : await selectInOrg<TaskRow>(this.em, orgId, sql, [orgId, id, boardId]);
    return rows[0] ? taskFromRow(rows[0]) : null;
  }

  private orgId(): string {
    const orgId = this.em.getFilterParams<{ orgId?: string }>('tenant')?.orgId;
    if (!orgId) throw new Error('the task repository needs an org-bound EntityManager');
    return orgId;
  }

  findTaskByRequestId(requestId: string): Promise<TaskRecord | null> {
    return this.em.findOne(TaskRecord, { createRequestId: requestId });
  }

  findCommentByRequestId(requestId: string): Promise<CommentRecord | null> {
    return this.em.findOne(CommentRecord, { createRequestId: requestId });
  }

  /** The last key of a list, leaving one task out (the one being moved). */
  async lastPosition(listId: string, except?: string): Promise<string | null> {
    // A plain row: only the key is needed, and a partial entity in the unit of work would cost a flush check.
    const rows = await this.em.execute<{ position: string }[]>(
      `select t.position from tasks t where t.org_id = ? and t.list_id = ?${except ? ' and t.id <> ?' : ''} order by t.position desc limit 1`,
      [this.orgId(), listId, ...(except ? [except] : [])],
    );
    return rows[0]?.position ?? null;
  }

  /** The nearest key before (or after) `position` in a list, leaving one task out. */
  async neighbour(listId: string, position: string, side: 'before' | 'after', except: string): Promise<string | null> {
    const row = await this.em.findOne(
      TaskRecord,
      { listId, id: { $ne: except }, position: side === 'before' ? { $lt: position } : { $gt: position } },
      { orderBy: { position: side === 'before' ? 'desc' : 'asc' }, fields: ['position'] },
    );
    return row?.position ?? null;
  }

  /**
   * A board's tasks in board order: list by list in the order given, each list by position, resuming after
   * the cursor (a list and a key), at most `limit` of them. One index range scan per list visited, so the
   * order comes from tasks_board_order_idx and nothing is sorted in memory.
   */
  async boardPage(
    boardId: string,
    listIds: readonly string[],
    filters: { status?: string; assigneeId?: string; label?: string; showArchived: boolean },
    after: { listIndex: number; position: string } | undefined,
    limit: number,
  ): Promise<{ task: TaskRecord; listIndex: number }[]> {
    const orgId = this.orgId();
    const conditions = ['t.org_id = ?', 't.board_id = ?', 't.list_id = ?'];
    const params: unknown[] = [];
    if (filters.status) {
      conditions.push('t.status = ?');
      params.push(filters.status);
    }
    if (filters.assigneeId) {
      conditions.push('t.assignees @> array[?]::text[]');
      params.push(filters.assigneeId);
    }
    if (filters.label) {
      conditions.push('t.labels @> array[?]::text[]');
      params.push(filters.label);
    }
    if (!filters.showArchived) conditions.push('not t.archived');
    // Rows as read, not entities: a page is up to 500 read-only tasks, and hydrating them into the identity map
    // cost more than the query (docs/benchmarks.md). One read transaction for all the lists' range scans.
    return this.em.transactional(async (tx) => {
      const page: { task: TaskRecord; listIndex: number }[] = [];
      for (let i = after?.listIndex ?? 0; i < listIds.length && page.length < limit; i++) {
        const resume = after && i === after.listIndex ? ' and t.position > ?' : '';
        const rows = await tx.execute<TaskRow[]>(
          `select ${TASK_COLUMNS} from tasks t where ${conditions.join(' and ')}${resume} order by t.position limit ?`,
          [orgId, boardId, listIds[i], ...params, ...(resume ? [after!.position] : []), limit - page.length],
        );
        for (const row of rows) page.push({ task: taskFromRow(row), listIndex: i });
      }
      return page;
    });
  }

  /**
   * Org-wide full-text search (title weighted over description), best rank first, ties by id; without words,
   * most recently updated first. Returns ids with their sort keys; archived tasks are never returned.
   */
  async search(
    orgId: string,
    filters: { query: string; assigneeId?: string; status?: string; dueBefore?: Date },
    after: [number | string, string] | undefined,
    limit: number,
  ): Promise<{ id: string; key: number | string }[]> {
    const conditions = ['t.org_id = ?', 'not t.archived'];
    const params: unknown[] = [orgId];
    if (filters.assigneeId) {
      conditions.push('t.assignees @> array[?]::text[]');
      params.push(filters.assigneeId);
    }
    if (filters.status) {
      conditions.push('t.status = ?');
      params.push(filters.status);
    }
    if (filters.dueBefore) {
      conditions.push('t.due_time < ?');
      params.push(filters.dueBefore);
    }
    if (filters.query.trim().length > 0) {
      const cursor = after ? 'where (s.rank < ?::real or (s.rank = ?::real and s.id > ?))' : '';
      const sql = `select s.id, s.rank from (
          select t.id, ts_rank(t.search, q) as rank
          from tasks t, websearch_to_tsquery('english', ?) q
          where t.search @@ q and ${conditions.join(' and ')}
        ) s ${cursor} order by s.rank desc, s.id limit ?`;
      const rows = await this.em.execute<{ id: string; rank: number }[]>(sql, [
        filters.query,
        ...params,
        ...(after ? [after[0], after[0], after[1]] : []),
        limit,
      ]);
      return rows.map((r) => ({ id: r.id, key: Number(r.rank) }));
    }
    if (after) {
      conditions.push('(t.updated_at < ? or (t.updated_at = ? and t.id > ?))');
      params.push(new Date(after[0]), new Date(after[0]), after[1]);
    }
    const sql = `select t.id, t.updated_at from tasks t where ${conditions.join(' and ')}
      order by t.updated_at desc, t.id limit ?`;
    const rows = await this.em.execute<{ id: string; updated_at: Date | string }[]>(sql, [...params, limit]);
    return rows.map((r) => ({ id: r.id, key: new Date(r.updated_at).toISOString() }));
  }

  findTasksByIds(ids: string[]): Promise<TaskRecord[]> {
    return ids.length === 0 ? Promise.resolve([]) : this.em.find(TaskRecord, { id: { $in: ids } });
  }

  countInList(listId: string): Promise<number> {
    return this.em.count(TaskRecord, { listId });
  }

  findComment(taskId: string, id: string): Promise<CommentRecord | null> {
    return this.em.findOne(CommentRecord, { id, taskId });
  }

  /** A task's comments, oldest first, after the cursor (a comment's seq). */
  commentPage(taskId: string, afterSeq: string | undefined, limit: number): Promise<CommentRecord[]> {
    const where: FilterQuery<CommentRecord> = afterSeq ? { taskId, seq: { $gt: afterSeq } } : { taskId };
    return this.em.find(CommentRecord, where, { orderBy: { seq: 'asc' }, limit });
  }
}

/** The mapped columns of tasks (never the generated search vector), as the board listing reads them. */
const TASK_COLUMNS = [
  'id',
  'org_id',
  'board_id',
  'list_id',
  'position',
  'title',
  'description',
  'status',
  'priority',
  'assignees',
  'labels',
  'due_time',
  'archived',
  'creator_id',
  'create_request_id',
  'version',
  'created_at',
  'updated_at',
]
  .map((c) => `t.${c}`)
  .join(', ');

interface TaskRow {
  id: string;
  org_id: string;
  board_id: string;
  list_id: string;
  position: string;
  title: string;
  description: string;
  status: string;
  priority: string;
  assignees: string[];
  labels: string[];
  due_time: Date | string | null;
  archived: boolean;
  creator_id: string;
  create_request_id: string | null;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

/** A read-only task from a row (node-postgres has already parsed uuid, text[], timestamptz, boolean, integer). */
function taskFromRow(r: TaskRow): TaskRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    boardId: r.board_id,
    listId: r.list_id,
    position: r.position,
    title: r.title,
    description: r.description,
    status: r.status,
    priority: r.priority,
    assignees: r.assignees,
    labels: r.labels,
    dueTime: r.due_time === null ? null : asDate(r.due_time),
    archived: r.archived,
    creatorId: r.creator_id,
    createRequestId: r.create_request_id,
    version: r.version,
    createdAt: asDate(r.created_at),
    updatedAt: asDate(r.updated_at),
  } as TaskRecord;
}

/** The driver may hand timestamps over as text, depending on the ORM's type parsers. */
const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));
