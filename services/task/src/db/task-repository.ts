import { createHash } from 'node:crypto';
import { LockMode, type FilterQuery } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CommentRecord, TaskRecord } from './entities.ts';
import { callOrgReadFunction, selectTextRowsInOrg, type SqlValue, type TextRow } from './one-trip-read.ts';
import { Col, TASK_WIRE_COLUMNS, taskRecordOf, type TaskObjectRow, type TaskRow } from './task-rows.ts';

/**
 * Every query on tasks and comments. The EntityManager is always an org fork (forkForOrg): the tenant filter
 * adds org_id to every ORM query, and the raw search query names org_id itself; RLS holds behind both.
 */
export class TaskRepository {
  constructor(private readonly em: EntityManager) {}

  /**
   * Looked up by id (the tenant filter adds the org), the board compared here: with the board in the WHERE clause,
   * PostgreSQL without statistics on tasks reads it through tasks_board_order_idx instead of tasks_pkey (readTaskRow).
   */
  async findTask(boardId: string, id: string, options: { lock?: boolean } = {}): Promise<TaskRecord | null> {
    const task = await this.em.findOne(TaskRecord, { id }, options.lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
    return task && task.boardId === boardId ? task : null;
  }

  /**
   * A task to read and answer with, never to change: one row, not an entity (no identity map, no unit of
   * work). The org is named in the query; RLS holds behind it as for every query.
   */
  async readTask(boardId: string, id: string): Promise<TaskRecord | null> {
    const row = await this.readTaskRow(boardId, id);
    return row ? taskRecordOf(this.orgId(), boardId, row) : null;
  }

  /** The same read as a task row (task-rows.ts), for answering with its bytes (task-wire.ts). */
  async readTaskRow(boardId: string, id: string): Promise<TaskRow | null> {
    const orgId = this.orgId();
    if (this.em.isInTransaction()) {
      // Inside a transaction, on its connection; the row is made from the parsed columns.
      const sql = `select ${TASK_COLUMNS} from tasks t where t.org_id = ? and t.id = ? and t.board_id = ?`;
      const rows = await this.em.execute<TaskObjectRow[]>(sql, [orgId, id, boardId]);
      return rows[0] ? taskRowOf(rows[0]) : null;
    }
    // One round trip (one-trip-read.ts callOrgReadFunction). Looked up by org and id, the board compared here: with
    // the board in the WHERE clause, PostgreSQL without statistics on tasks (a fresh or freshly filled database,
    // before autoanalyze) reads the task through tasks_board_order_idx, filtering the whole board by id
    // (0.69 vs 0.03 ms on 3,000 tasks), instead of tasks_pkey.
    // One named prepared statement: read_task_in_org (migration 0003) selects TASK_ROW_COLUMNS, then board_id.
    const row = (await callOrgReadFunction(this.em, 'read_task_in_org', [orgId, id]))[0];
    if (!row || row.pop() !== boardId) return null;
    return row;
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
   * the cursor (a list's index and a key), at most `limit` of them, as rows of TASK_WIRE_COLUMNS.
   *
   * ONE statement, sent with the org settings in one round trip (one-trip-read.ts): the lists (from the
   * cursor's on) are unnested with their order, and for each one a lateral subquery reads at most `limit`
   * tasks by an index range scan on tasks_board_order_idx (org, board, list, position > the list's lower
   * bound: the cursor's key for its list, '' — below every key — for the others). The outer ORDER BY makes
   * the order promised; PostgreSQL satisfies it with an Incremental Sort whose presorted key is the ordinality
   * (the lists come in order; each list's rows, already by position, are sorted as one small group) and which
   * stops reading lists once `limit` rows are out. Over-fetch stays inside PostgreSQL (the rest of the page's
   * last list, capped at `limit`, and one row of the next) and only the page's rows travel. The plan is
   * checked in task-store.test.ts.
   */
  async boardPage(
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters,
    after: { listIndex: number; position: string } | undefined,
    limit: number,
  ): Promise<TaskRow[]> {
    if (this.em.isInTransaction()) throw new Error('boardPage reads outside transactions only');
    const orgId = this.orgId();
    const query = boardPageQuery(orgId, boardId, listIds, filters, after, limit, 'rows');
    return query ? selectTextRowsInOrg(this.em, orgId, query.sql, query.values) : [];
  }

  /**
   * The same page (same statement, same plan) as only [id, stamp] per task, the stamp being "xmin/version" (see
   * ROW_STAMP): which row versions the page holds, for a reader that keeps tasks' bytes by row version
   * (task-bytes-cache.ts).
   */
  async boardPageVersions(
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters,
    after: { listIndex: number; position: string } | undefined,
    limit: number,
  ): Promise<TextRow[]> {
    if (this.em.isInTransaction()) throw new Error('boardPage reads outside transactions only');
    const orgId = this.orgId();
    const query = boardPageQuery(orgId, boardId, listIds, filters, after, limit, 'versions');
    return query ? selectTextRowsInOrg(this.em, orgId, query.sql, query.values) : [];
  }

  /**
   * A digest of the same page's row versions, computed in PostgreSQL: the hex SHA-256 of "id:stamp" of its tasks
   * in page order, joined by "," (the same string pageDigestOf makes of boardPageVersions' rows). One row travels.
   */
  async boardPageDigest(
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters,
    after: { listIndex: number; position: string } | undefined,
    limit: number,
  ): Promise<string> {
    if (this.em.isInTransaction()) throw new Error('boardPage reads outside transactions only');
    const orgId = this.orgId();
    const query = boardPageQuery(orgId, boardId, listIds, filters, after, limit, 'digest');
    if (!query) return pageDigestOf([]);
    const rows = await selectTextRowsInOrg(this.em, orgId, query.sql, query.values);
    return rows[0]![0]!;
  }

  /** Tasks of a board by id, as rows of TASK_WIRE_COLUMNS followed by the row version's stamp (WIRE_STAMP). */
  async readWireRows(boardId: string, ids: readonly string[]): Promise<TaskRow[]> {
    if (ids.length === 0) return [];
    const orgId = this.orgId();
    // By org and id, the board compared here (see readTaskRow: the plan without statistics).
    const sql = `select ${TASK_WIRE_COLUMNS}, ${ROW_STAMP}, t.board_id from tasks t where t.org_id = ? and t.id = any(?::uuid[])`;
    const rows = await selectTextRowsInOrg(this.em, orgId, sql, [orgId, ids]);
    return rows.filter((row) => row.pop() === boardId);
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

/** Where readWireRows puts the row version's stamp, after TASK_WIRE_COLUMNS. */
export const WIRE_STAMP = 15;

/**
 * A task row version's stamp: its xmin (the transaction that wrote this version of the row; every UPDATE, by any
 * writer, writes a new version with a new xmin) and the task's version (bumped by every update and move).
 */
const ROW_STAMP = `t.xmin::text || '/' || t.version::text`;

export interface BoardFilters {
  status?: string;
  assigneeId?: string;
  label?: string;
  showArchived: boolean;
}

/**
 * The statement of TaskRepository.boardPage (exported for its tests); undefined when no list is left to read.
 * 'rows' selects TASK_WIRE_COLUMNS, 'versions' [id, stamp] (ROW_STAMP), 'digest' one row: the page's digest.
 */
export function boardPageQuery(
  orgId: string,
  boardId: string,
  listIds: readonly string[],
  filters: BoardFilters,
  after: { listIndex: number; position: string } | undefined,
  limit: number,
  shape: 'rows' | 'versions' | 'digest' = 'rows',
): { sql: string; values: SqlValue[] } | undefined {
  const start = after?.listIndex ?? 0;
  const lists = listIds.slice(start);
  if (lists.length === 0 || limit <= 0) return undefined;
  const bounds = lists.map((_, i) => (i === 0 && after ? after.position : ''));
  const conditions: string[] = [];
  const params: SqlValue[] = [];
  if (filters.status) {
    conditions.push('and t.status = ?');
    params.push(filters.status);
  }
  if (filters.assigneeId) {
    conditions.push('and t.assignees @> array[?]::text[]');
    params.push(filters.assigneeId);
  }
  if (filters.label) {
    conditions.push('and t.labels @> array[?]::text[]');
    params.push(filters.label);
  }
  if (!filters.showArchived) conditions.push('and not t.archived');
  const [outer, inner] =
    shape === 'rows'
      ? [TASK_WIRE_COLUMNS, TASK_COLUMNS]
      : shape === 'versions'
        ? [`t.id, ${ROW_STAMP}`, 't.id, t.xmin, t.version, t.position']
        : [`t.id::text as id, ${ROW_STAMP} as stamp, l.ord, t.position`, 't.id, t.xmin, t.version, t.position'];
  const sql = `select ${outer}
    from unnest(?::uuid[], ?::text[]) with ordinality l(list_id, after, ord)
    cross join lateral (
      select ${inner} from tasks t
      where t.org_id = ? and t.board_id = ? and t.list_id = l.list_id and t.position > l.after collate "C" ${conditions.join(' ')}
      order by t.position limit ?
    ) t
    order by l.ord, t.position limit ?`;
  const values = [lists, bounds, orgId, boardId, ...params, limit, limit];
  if (shape !== 'digest') return { sql, values };
  return {
    sql: `select encode(sha256(convert_to(coalesce(string_agg(p.id || ':' || p.stamp, ',' order by p.ord, p.position), ''), 'UTF8')), 'hex')
      from (${sql}) p`,
    values,
  };
}

/** The digest boardPageDigest computes, of boardPageVersions' rows ([id, stamp] in page order). */
export function pageDigestOf(rows: readonly TextRow[]): string {
  return createHash('sha256')
    .update(rows.map((row) => `${row[0]}:${row[1]}`).join(','), 'utf8')
    .digest('hex');
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


/** The task row (task-rows.ts) of parsed columns. */
function taskRowOf(r: TaskObjectRow): TaskRow {
  const row: TaskRow = [];
  row[Col.id] = r.id;
  row[Col.listId] = r.list_id;
  row[Col.position] = r.position;
  row[Col.title] = r.title;
  row[Col.description] = r.description;
  row[Col.status] = r.status;
  row[Col.priority] = r.priority;
  row[Col.assignees] = textArrayText(r.assignees);
  row[Col.labels] = textArrayText(r.labels);
  row[Col.dueMs] = r.due_time === null ? null : String(asDate(r.due_time).getTime());
  row[Col.archived] = r.archived ? 't' : 'f';
  row[Col.creatorId] = r.creator_id;
  row[Col.version] = String(r.version);
  row[Col.createdMs] = String(asDate(r.created_at).getTime());
  row[Col.updatedMs] = String(asDate(r.updated_at).getTime());
  row[Col.createRequestId] = r.create_request_id;
  return row;
}

/** A text[] in PostgreSQL's output form, every element quoted. */
const textArrayText = (items: string[]) => `{${items.map((item) => `"${item.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;

/** The driver may hand timestamps over as text, depending on the ORM's type parsers. */
const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));
