import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { AbortedError } from '@taskmesh/runtime/errors';
import { outboxInsert, outboxRowOf, type DomainEvent } from '@taskmesh/runtime/outbox';
import { selectInOrg, selectTextRowsInOrg, sql, withOrgConnection, type OrgSql, type SqlFragment, type TextRow } from '@taskmesh/runtime/tenant-sql';
import { TASK_FIELDS, type Storage, type Task, type TaskComment, type TaskKey } from '../domain/task-fields.ts';

/**
 * The task store: every query of tasks and comments, all through the runtime's tenant SQL door (RLS and the
 * org named in every statement). Rows are read as PostgreSQL's text output in manifest order (TaskRow), which
 * the byte encoder (task-bytes.ts) copies from and taskOf parses; both come from the manifest.
 *
 * Writes are two round trips: the reads (locks, neighbouring keys, request ids) with `begin`, then the change,
 * its outbox rows and the commit. Races on an order key or a request id are retried here.
 */

/** Who the store works for: an org-bound EntityManager and the org (the runtime's TenantContext fits). */
export interface StoreContext {
  em: EntityManager;
  org: { id: string };
  call?: { signal?: AbortSignal };
}

/** A task row: the text output of each manifest column in manifest order (times as integer ms). */
export type TaskRow = TextRow;

export interface BoardFilters {
  status?: string;
  assigneeId?: string;
  label?: string;
  showArchived: boolean;
}

export type PageCursor = { listIndex: number; position: string } | undefined;

export interface MoveReads {
  /** Without an anchor: the last key of the target list, the task left out. */
  lastPosition?: string | null;
  /** With an anchor: its list and key, and the nearest key on the far side of it in its list (task left out). */
  anchor?: { listId: string; position: string; neighbour: string | null } | null;
}

/** What a write decided: the keys it changed on the task (or nothing to write), and its events. */
export interface Change {
  keys: TaskKey[];
  events: DomainEvent[];
}

export interface TaskStore {
  get(ctx: StoreContext, boardId: string, taskId: string): Promise<Task | null>;
  getRow(ctx: StoreContext, boardId: string, taskId: string): Promise<TaskRow | null>;
  findByRequestId(ctx: StoreContext, requestId: string): Promise<Task | null>;
  byIds(ctx: StoreContext, ids: readonly string[]): Promise<Task[]>;
  countInList(ctx: StoreContext, listId: string): Promise<number>;
  countInOrg(ctx: StoreContext): Promise<number>;
  boardPage(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number): Promise<TaskRow[]>;
  boardPageVersions(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number): Promise<TextRow[]>;
  boardPageDigest(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number): Promise<string>;
  rowsWithStamps(ctx: StoreContext, boardId: string, ids: readonly string[]): Promise<{ row: TaskRow; stamp: string }[]>;
  search(
    ctx: StoreContext,
    filters: { query: string; assigneeId?: string; status?: string; dueBefore?: Date },
    after: [number | string, string] | undefined,
    limit: number,
  ): Promise<{ id: string; key: number | string }[]>;
  create(ctx: StoreContext, listId: string, requestId: string, make: (lastPosition: string | null) => { task: Task; events: DomainEvent[] }): Promise<{ task: Task; created: boolean }>;
  update(ctx: StoreContext, boardId: string, taskId: string, change: (task: Task) => Change | null): Promise<{ task: Task; changed: boolean } | null>;
  /**
   * Several tasks of a board in one transaction: all locked, `change` decided for each (in the order of
   * `taskIds`, which must not repeat), all written with their events, or nothing when `change` throws. The id
   * of a task that is not on the board instead of the tasks.
   */
  updateMany(
    ctx: StoreContext,
    boardId: string,
    taskIds: readonly string[],
    change: (task: Task, index: number) => Change | null,
  ): Promise<{ tasks: Task[] } | { missing: string }>;
  move(
    ctx: StoreContext,
    boardId: string,
    taskId: string,
    target: { listId?: string | undefined; anchorId?: string | undefined; side: 'before' | 'after' },
    change: (task: Task, reads: MoveReads) => Change | null,
  ): Promise<{ task: Task; changed: boolean } | null>;
  delete(ctx: StoreContext, boardId: string, taskId: string, events: (task: Task) => DomainEvent[]): Promise<boolean>;
  commentPage(ctx: StoreContext, taskId: string, afterSeq: string | undefined, limit: number): Promise<TaskComment[]>;
  /** Every task of the org in id order, after `afterId` (the export's pages). */
  orgTaskPage(ctx: StoreContext, afterId: string | undefined, limit: number): Promise<Task[]>;
  /** Every comment of the org in creation order, after `afterSeq` (the export's pages). */
  orgCommentPage(ctx: StoreContext, afterSeq: string | undefined, limit: number): Promise<TaskComment[]>;
  findComment(ctx: StoreContext, taskId: string, commentId: string): Promise<TaskComment | null>;
  addComment(
    ctx: StoreContext,
    boardId: string,
    taskId: string,
    requestId: string,
    make: () => { comment: TaskComment; events: DomainEvent[] },
  ): Promise<{ comment: TaskComment; created: boolean } | null>;
  deleteComment(ctx: StoreContext, taskId: string, commentId: string, events: (comment: TaskComment) => DomainEvent[]): Promise<TaskComment | null>;
}

// ---- derived from the manifest ---------------------------------------------------------------------

/** Column index of each task key in a TaskRow. */
export const COL = Object.fromEntries(TASK_FIELDS.map((f, i) => [f.key, i])) as Record<TaskKey, number>;

const selectExpression = (storage: Storage, column: string) =>
  storage === 'time' ? `floor(extract(epoch from t.${column}) * 1000)::int8` : `t.${column}`;
/** The select list of a TaskRow (on alias t). */
const TASK_SELECT = sql.raw(TASK_FIELDS.map((f) => selectExpression(f.storage, f.column)).join(', '));
/** The plain columns, for an inner select that the outer TASK_SELECT reads. */
const TASK_COLUMNS = sql.raw(TASK_FIELDS.map((f) => `t.${f.column}`).join(', '));
const CAST: Record<Storage, string> = { uuid: 'uuid', text: 'text', texts: 'text[]', time: 'timestamptz', bool: 'boolean', int: 'int4' };

/**
 * A row version's stamp: its xmin (the transaction that wrote this version: every UPDATE, by any writer, makes
 * a new one) and the task's version (bumped by every update and move).
 */
const ROW_STAMP = sql.raw(`t.xmin::text || '/' || t.version::text`);

const TEXT_ARRAY_OID = 1009; // text[] (pg-types names no array types)
const parseTextArray = (pg.types.getTypeParser as (oid: number) => unknown)(TEXT_ARRAY_OID) as (text: string) => (string | null)[];

/** A text[] column's elements: the common unquoted forms split here, anything else by node-postgres's parser. */
export function textArrayOf(text: string): string[] {
  if (text === '{}') return [];
  if (text.charCodeAt(0) === 123 /* { */ && !/["\\]|null/i.test(text)) return text.slice(1, -1).split(',');
  const items = parseTextArray(text);
  // The tables hold no NULL elements (every writer stores strings); refuse rather than guess at one.
  if (items.some((item) => item === null)) throw new Error('a text[] column holds a NULL element');
  return items as string[];
}

/** Milliseconds since the epoch from the integer text; finite and within Date's range, or an error. */
export function msOf(text: string): number {
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || Math.abs(ms) > 8.64e15) throw new Error(`a task time is out of range: ${text}`);
  return ms;
}

function valueOfText(storage: Storage, text: string | null): unknown {
  if (text === null) return null;
  switch (storage) {
    case 'texts':
      return textArrayOf(text);
    case 'time':
      return new Date(msOf(text));
    case 'bool':
      return text === 't';
    case 'int':
      return Number(text);
    default:
      return text;
  }
}

/** The task of a TaskRow. */
export function taskOf(row: TaskRow): Task {
  const task: Record<string, unknown> = {};
  for (let i = 0; i < TASK_FIELDS.length; i++) task[TASK_FIELDS[i]!.key] = valueOfText(TASK_FIELDS[i]!.storage, row[i] ?? null);
  return task as Task;
}

const valueSql = (task: Task, i: number) => sql`${task[TASK_FIELDS[i]!.key] as unknown}::${sql.raw(CAST[TASK_FIELDS[i]!.storage])}`;
const INSERT_COLUMNS = sql.raw(TASK_FIELDS.map((f) => f.column).join(', '));

function insertTask(task: Task): SqlFragment {
  return sql`insert into tasks (${INSERT_COLUMNS}) values (${sql.join(TASK_FIELDS.map((_, i) => valueSql(task, i)))})`;
}

function setTask(task: Task, keys: readonly TaskKey[]): SqlFragment {
  return sql.join(keys.map((key) => sql`${sql.raw(TASK_FIELDS[COL[key]]!.column)} = ${valueSql(task, COL[key])}`));
}

// ---- comments ----------------------------------------------------------------------------------------

const COMMENT_SELECT = sql.raw('c.id, c.org_id, c.seq::text as seq, c.task_id, c.board_id, c.author_id, c.body, c.create_request_id, c.created_at');

interface CommentRow {
  id: string;
  org_id: string;
  seq: string;
  task_id: string;
  board_id: string;
  author_id: string;
  body: string;
  create_request_id: string | null;
  created_at: Date | string;
}

const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));

function commentOf(r: CommentRow): TaskComment {
  return {
    id: r.id,
    orgId: r.org_id,
    seq: r.seq,
    taskId: r.task_id,
    boardId: r.board_id,
    authorId: r.author_id,
    body: r.body,
    createRequestId: r.create_request_id,
    createdAt: asDate(r.created_at),
  };
}

// ---- the store -----------------------------------------------------------------------------------------

/** How often a write that lost a race for an order key is retried against fresh neighbours. */
const POSITION_ATTEMPTS = 8;

function violatedConstraint(err: unknown): string | undefined {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && typeof e.constraint === 'string' ? e.constraint : undefined;
}

/** A transaction-scoped lock on appends to one list, taken only by writes that already lost a race for its last key. */
const listAppendLock = (listId: string) => sql`select pg_advisory_xact_lock(hashtextextended(${listId}::text, 0))`;

const tooFast = () => new AbortedError('the list is changing too fast; retry', { reason: 'CONCURRENT_CHANGE' });

export class SqlTaskStore implements TaskStore {
  private write<T>(ctx: StoreContext, body: (tx: OrgSql) => Promise<T>): Promise<T> {
    return withOrgConnection(ctx.em, ctx.org.id, body, { signal: ctx.call?.signal });
  }

  private textRows(ctx: StoreContext, statement: SqlFragment): Promise<TextRow[]> {
    return selectTextRowsInOrg(ctx.em, ctx.org.id, statement);
  }

  /*
   * A task is looked up by org and id only, its board compared here: with the board in the WHERE clause,
   * PostgreSQL without statistics on tasks (a fresh or freshly filled database) read it through
   * tasks_board_order_idx, filtering the whole board, instead of the primary key.
   */
  async getRow(ctx: StoreContext, boardId: string, taskId: string): Promise<TaskRow | null> {
    const [row] = await this.textRows(ctx, sql`select ${TASK_SELECT} from tasks t where t.org_id = ${ctx.org.id}::uuid and t.id = ${taskId}::uuid`);
    return row && row[COL.boardId] === boardId ? row : null;
  }

  async get(ctx: StoreContext, boardId: string, taskId: string): Promise<Task | null> {
    const row = await this.getRow(ctx, boardId, taskId);
    return row ? taskOf(row) : null;
  }

  async findByRequestId(ctx: StoreContext, requestId: string): Promise<Task | null> {
    const [row] = await this.textRows(
      ctx,
      sql`select ${TASK_SELECT} from tasks t where t.org_id = ${ctx.org.id}::uuid and t.create_request_id = ${requestId}`,
    );
    return row ? taskOf(row) : null;
  }

  async byIds(ctx: StoreContext, ids: readonly string[]): Promise<Task[]> {
    if (ids.length === 0) return [];
    const rows = await this.textRows(ctx, sql`select ${TASK_SELECT} from tasks t where t.org_id = ${ctx.org.id}::uuid and t.id = any(${ids}::uuid[])`);
    return rows.map(taskOf);
  }

  async countInOrg(ctx: StoreContext): Promise<number> {
    const [row] = await selectInOrg<{ n: number }>(ctx.em, ctx.org.id, sql`select count(*)::int as n from tasks t where t.org_id = ${ctx.org.id}::uuid`);
    return row?.n ?? 0;
  }

  async countInList(ctx: StoreContext, listId: string): Promise<number> {
    const [row] = await selectInOrg<{ n: number }>(
      ctx.em,
      ctx.org.id,
      sql`select count(*)::int as n from tasks t where t.org_id = ${ctx.org.id}::uuid and t.list_id = ${listId}::uuid`,
    );
    return row?.n ?? 0;
  }

  /**
   * A board's tasks in board order: list by list in the order given, each list by position, resuming after
   * the cursor, at most `limit` of them. One statement (see boardPageQuery).
   */
  async boardPage(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number) {
    const query = boardPageQuery(ctx.org.id, boardId, listIds, filters, after, limit, 'rows');
    return query ? this.textRows(ctx, query) : [];
  }

  /** The same page as [id, stamp] per task: which row versions it holds. */
  async boardPageVersions(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number) {
    const query = boardPageQuery(ctx.org.id, boardId, listIds, filters, after, limit, 'versions');
    return query ? this.textRows(ctx, query) : [];
  }

  /** The digest of the same page's row versions, computed in PostgreSQL (pageDigestOf of boardPageVersions). */
  async boardPageDigest(ctx: StoreContext, boardId: string, listIds: readonly string[], filters: BoardFilters, after: PageCursor, limit: number) {
    const query = boardPageQuery(ctx.org.id, boardId, listIds, filters, after, limit, 'digest');
    if (!query) return pageDigestOf([]);
    return (await this.textRows(ctx, query))[0]![0]!;
  }

  async rowsWithStamps(ctx: StoreContext, boardId: string, ids: readonly string[]): Promise<{ row: TaskRow; stamp: string }[]> {
    if (ids.length === 0) return [];
    const rows = await this.textRows(
      ctx,
      sql`select ${TASK_SELECT}, ${ROW_STAMP} from tasks t where t.org_id = ${ctx.org.id}::uuid and t.id = any(${ids}::uuid[])`,
    );
    return rows.flatMap((row) => {
      const stamp = row.pop()!;
      return row[COL.boardId] === boardId ? [{ row, stamp }] : [];
    });
  }

  /**
   * Org-wide full-text search (title weighted over description), best rank first, ties by id; without words,
   * most recently updated first. Ids with their sort keys; archived tasks are never returned.
   */
  async search(
    ctx: StoreContext,
    filters: { query: string; assigneeId?: string; status?: string; dueBefore?: Date },
    after: [number | string, string] | undefined,
    limit: number,
  ): Promise<{ id: string; key: number | string }[]> {
    const conditions = [sql`t.org_id = ${ctx.org.id}::uuid`, sql`not t.archived`];
    if (filters.assigneeId) conditions.push(sql`t.assignees @> array[${filters.assigneeId}::text]`);
    if (filters.status) conditions.push(sql`t.status = ${filters.status}`);
    if (filters.dueBefore) conditions.push(sql`t.due_time < ${filters.dueBefore}::timestamptz`);
    if (filters.query.trim().length > 0) {
      const cursor = after ? sql`where (s.rank < ${after[0]}::real or (s.rank = ${after[0]}::real and s.id > ${after[1]}::uuid))` : sql``;
      const rows = await selectInOrg<{ id: string; rank: number }>(
        ctx.em,
        ctx.org.id,
        sql`select s.id, s.rank from (
          select t.id, ts_rank(t.search, q) as rank
          from tasks t, websearch_to_tsquery('english', ${filters.query}) q
          where t.search @@ q and ${sql.join(conditions, ' and ')}
        ) s ${cursor} order by s.rank desc, s.id limit ${limit}::int`,
      );
      return rows.map((r) => ({ id: r.id, key: Number(r.rank) }));
    }
    if (after) {
      const at = new Date(after[0]);
      conditions.push(sql`(t.updated_at < ${at}::timestamptz or (t.updated_at = ${at}::timestamptz and t.id > ${after[1]}::uuid))`);
    }
    const rows = await selectInOrg<{ id: string; updated_at: Date | string }>(
      ctx.em,
      ctx.org.id,
      sql`select t.id, t.updated_at from tasks t where ${sql.join(conditions, ' and ')} order by t.updated_at desc, t.id limit ${limit}::int`,
    );
    return rows.map((r) => ({ id: r.id, key: asDate(r.updated_at).toISOString() }));
  }

  async create(
    ctx: StoreContext,
    listId: string,
    requestId: string,
    make: (lastPosition: string | null) => { task: Task; events: DomainEvent[] },
  ): Promise<{ task: Task; created: boolean }> {
    const org = ctx.org.id;
    for (let attempt = 1; attempt <= POSITION_ATTEMPTS; attempt++) {
      try {
        const outcome = await this.write(ctx, async (tx) => {
          // After a lost race, appends to this list queue on a lock instead of racing again (30 at once all land).
          if (attempt > 1) await tx.query(listAppendLock(listId));
          const [last, earlier] = await Promise.all([
            tx.query<{ position: string }>(
              sql`select t.position from tasks t where t.org_id = ${org}::uuid and t.list_id = ${listId}::uuid order by t.position desc limit 1`,
            ),
            requestId ? tx.textRows(sql`select ${TASK_SELECT} from tasks t where t.org_id = ${org}::uuid and t.create_request_id = ${requestId}`) : [],
          ]);
          if (earlier[0]) return { task: taskOf(earlier[0]), created: false };
          const { task, events } = make(last.rows[0]?.position ?? null);
          // Nothing is written (and no event) when a concurrent write took the key: the row count tells.
          const [written] = await tx.commit(
            sql`with t as (${insertTask(task)} on conflict (org_id, list_id, position) do nothing returning 1) ${outboxInsert(events.map(outboxRowOf), { onlyIfRowsIn: 't' })}`,
          );
          return written!.rowCount === events.length ? { task, created: true } : null;
        });
        if (outcome) return outcome;
      } catch (err) {
        if (violatedConstraint(err) === 'tasks_create_request_idx') {
          // A concurrent retry with the same request id won: answer with its result.
          const earlier = await this.findByRequestId(ctx, requestId);
          if (earlier) return { task: earlier, created: false };
        }
        throw err;
      }
    }
    throw tooFast();
  }

  private async locked(tx: OrgSql, boardId: string, taskId: string): Promise<Task | null> {
    const [row] = await tx.textRows(sql`select ${TASK_SELECT} from tasks t where t.org_id = ${tx.orgId}::uuid and t.id = ${taskId}::uuid for update`);
    return row && row[COL.boardId] === boardId ? taskOf(row) : null;
  }

  /** Writes the changed tasks (locked in `tx`) and all their events in one outbox insert, with the commit. */
  private async commitChanges(tx: OrgSql, changed: readonly { task: Task; change: Change }[]): Promise<void> {
    const statements = changed.map(({ task, change }) => sql`update tasks set ${setTask(task, change.keys)} where org_id = ${tx.orgId}::uuid and id = ${task.id}::uuid`);
    const events = changed.flatMap(({ change }) => change.events);
    if (events.length > 0) statements.push(outboxInsert(events.map(outboxRowOf)));
    const results = await tx.commit(...statements);
    if (changed.some((_, i) => results[i]!.rowCount !== 1)) throw new Error('a locked task was not updated');
  }

  private commitChange(tx: OrgSql, task: Task, change: Change): Promise<void> {
    return this.commitChanges(tx, [{ task, change }]);
  }

  async update(ctx: StoreContext, boardId: string, taskId: string, change: (task: Task) => Change | null) {
    return this.write(ctx, async (tx) => {
      const task = await this.locked(tx, boardId, taskId);
      if (!task) return null;
      const decided = change(task);
      if (!decided) return { task, changed: false };
      await this.commitChange(tx, task, decided);
      return { task, changed: true };
    });
  }

  async updateMany(ctx: StoreContext, boardId: string, taskIds: readonly string[], change: (task: Task, index: number) => Change | null) {
    return this.write(ctx, async (tx): Promise<{ tasks: Task[] } | { missing: string }> => {
      // Locked in id order, so two batches over the same tasks wait for each other instead of deadlocking.
      const rows = await tx.textRows(
        sql`select ${TASK_SELECT} from tasks t where t.org_id = ${tx.orgId}::uuid and t.id = any(${taskIds}::uuid[]) order by t.id for update`,
      );
      const locked = new Map(rows.filter((row) => row[COL.boardId] === boardId).map((row) => [row[COL.id]!, taskOf(row)]));
      const missing = taskIds.find((id) => !locked.has(id));
      if (missing) return { missing };
      const tasks = taskIds.map((id) => locked.get(id)!);
      const changed = tasks.flatMap((task, i) => {
        const decided = change(task, i);
        return decided ? [{ task, change: decided }] : [];
      });
      if (changed.length > 0) await this.commitChanges(tx, changed);
      return { tasks };
    });
  }

  async move(
    ctx: StoreContext,
    boardId: string,
    taskId: string,
    target: { listId?: string | undefined; anchorId?: string | undefined; side: 'before' | 'after' },
    change: (task: Task, reads: MoveReads) => Change | null,
  ): Promise<{ task: Task; changed: boolean } | null> {
    const org = ctx.org.id;
    for (let attempt = 1; attempt <= POSITION_ATTEMPTS; attempt++) {
      try {
        return await this.write(ctx, async (tx) => {
          if (attempt > 1 && target.listId && !target.anchorId) await tx.query(listAppendLock(target.listId));
          const locked = this.locked(tx, boardId, taskId);
          let second: Promise<{ rows: Record<string, unknown>[] }>;
          if (target.anchorId) {
            const [cmp, order] = target.side === 'before' ? ['<', 'desc'] : ['>', 'asc'];
            second = tx.query(
              sql`select a.board_id, a.list_id, a.position, (select n.position from tasks n where n.org_id = ${org}::uuid and n.list_id = a.list_id and n.id <> ${taskId}::uuid and n.position ${sql.raw(cmp!)} a.position order by n.position ${sql.raw(order!)} limit 1) as neighbour from tasks a where a.org_id = ${org}::uuid and a.id = ${target.anchorId}::uuid`,
            );
          } else {
            const list = target.listId
              ? sql`${target.listId}::uuid`
              : sql`(select m.list_id from tasks m where m.org_id = ${org}::uuid and m.id = ${taskId}::uuid)`;
            second = tx.query(
              sql`select t.position from tasks t where t.org_id = ${org}::uuid and t.list_id = ${list} and t.id <> ${taskId}::uuid order by t.position desc limit 1`,
            );
          }
          const [task, other] = await Promise.all([locked, second]);
          if (!task) return null;
          const reads: MoveReads = {};
          if (target.anchorId) {
            const a = other.rows[0] as { board_id: string; list_id: string; position: string; neighbour: string | null } | undefined;
            reads.anchor = a && a.board_id === boardId ? { listId: a.list_id, position: a.position, neighbour: a.neighbour } : null;
          } else {
            reads.lastPosition = (other.rows[0] as { position: string } | undefined)?.position ?? null;
          }
          const decided = change(task, reads);
          if (!decided) return { task, changed: false };
          await this.commitChange(tx, task, decided);
          return { task, changed: true };
        });
      } catch (err) {
        // Another move or create took the same key in the same gap: retry against the new neighbours.
        if (violatedConstraint(err) !== 'tasks_list_position_idx') throw err;
      }
    }
    throw tooFast();
  }

  async delete(ctx: StoreContext, boardId: string, taskId: string, events: (task: Task) => DomainEvent[]): Promise<boolean> {
    return this.write(ctx, async (tx) => {
      const task = await this.locked(tx, boardId, taskId);
      if (!task) return false;
      const org = tx.orgId;
      const [, , deleted] = await tx.commit(
        sql`delete from comments where org_id = ${org}::uuid and task_id = ${task.id}::uuid`,
        outboxInsert(events(task).map(outboxRowOf)),
        sql`delete from tasks where org_id = ${org}::uuid and id = ${task.id}::uuid`,
      );
      if (deleted!.rowCount !== 1) throw new Error('the locked task was not deleted');
      return true;
    });
  }

  async commentPage(ctx: StoreContext, taskId: string, afterSeq: string | undefined, limit: number): Promise<TaskComment[]> {
    const after = afterSeq ? sql`and c.seq > ${afterSeq}::int8` : sql``;
    const rows = await selectInOrg<CommentRow>(
      ctx.em,
      ctx.org.id,
      sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${ctx.org.id}::uuid and c.task_id = ${taskId}::uuid ${after} order by c.seq limit ${limit}::int`,
    );
    return rows.map(commentOf);
  }

  async orgTaskPage(ctx: StoreContext, afterId: string | undefined, limit: number): Promise<Task[]> {
    const after = afterId ? sql`and t.id > ${afterId}::uuid` : sql``;
    const rows = await this.textRows(ctx, sql`select ${TASK_SELECT} from tasks t where t.org_id = ${ctx.org.id}::uuid ${after} order by t.id limit ${limit}::int`);
    return rows.map(taskOf);
  }

  async orgCommentPage(ctx: StoreContext, afterSeq: string | undefined, limit: number): Promise<TaskComment[]> {
    const after = afterSeq ? sql`and c.seq > ${afterSeq}::int8` : sql``;
    const rows = await selectInOrg<CommentRow>(
      ctx.em,
      ctx.org.id,
      sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${ctx.org.id}::uuid ${after} order by c.seq limit ${limit}::int`,
    );
    return rows.map(commentOf);
  }

  async findComment(ctx: StoreContext, taskId: string, commentId: string): Promise<TaskComment | null> {
    const [row] = await selectInOrg<CommentRow>(
      ctx.em,
      ctx.org.id,
      sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${ctx.org.id}::uuid and c.id = ${commentId}::uuid`,
    );
    return row && row.task_id === taskId ? commentOf(row) : null;
  }

  async addComment(
    ctx: StoreContext,
    boardId: string,
    taskId: string,
    requestId: string,
    make: () => { comment: TaskComment; events: DomainEvent[] },
  ): Promise<{ comment: TaskComment; created: boolean } | null> {
    const org = ctx.org.id;
    try {
      return await this.write(ctx, async (tx) => {
        // The task is kept from being deleted until the commit (as the foreign key would at the insert).
        const [task, earlier] = await Promise.all([
          tx.query<{ board_id: string }>(sql`select t.board_id from tasks t where t.org_id = ${org}::uuid and t.id = ${taskId}::uuid for key share`),
          requestId
            ? tx.query<CommentRow>(sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${org}::uuid and c.create_request_id = ${requestId}`)
            : { rows: [] as CommentRow[] },
        ]);
        if (task.rows[0]?.board_id !== boardId) return null;
        if (earlier.rows[0]) return { comment: commentOf(earlier.rows[0]), created: false };
        const { comment, events } = make();
        const [inserted] = await tx.commit(
          sql`insert into comments (id, org_id, task_id, board_id, author_id, body, create_request_id, created_at) values (${comment.id}::uuid, ${comment.orgId}::uuid, ${comment.taskId}::uuid, ${comment.boardId}::uuid, ${comment.authorId}::uuid, ${comment.body}, ${comment.createRequestId}::text, ${comment.createdAt}::timestamptz) returning seq::text as seq`,
          outboxInsert(events.map(outboxRowOf)),
        );
        comment.seq = String((inserted!.rows[0] as { seq: string }).seq);
        return { comment, created: true };
      });
    } catch (err) {
      if (violatedConstraint(err) === 'comments_create_request_idx') {
        // A concurrent retry with the same request id won: answer with its result.
        const [row] = await selectInOrg<CommentRow>(
          ctx.em,
          org,
          sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${org}::uuid and c.create_request_id = ${requestId}`,
        );
        if (row) return { comment: commentOf(row), created: false };
      }
      throw err;
    }
  }

  async deleteComment(ctx: StoreContext, taskId: string, commentId: string, events: (comment: TaskComment) => DomainEvent[]) {
    return this.write(ctx, async (tx) => {
      const [row] = (
        await tx.query<CommentRow>(sql`select ${COMMENT_SELECT} from comments c where c.org_id = ${tx.orgId}::uuid and c.id = ${commentId}::uuid for update`)
      ).rows;
      const comment = row && row.task_id === taskId ? commentOf(row) : null;
      if (!comment) return null;
      const [, deleted] = await tx.commit(
        outboxInsert(events(comment).map(outboxRowOf)),
        sql`delete from comments where org_id = ${tx.orgId}::uuid and id = ${commentId}::uuid`,
      );
      if (deleted!.rowCount !== 1) throw new Error('the locked comment was not deleted');
      return comment;
    });
  }
}

/**
 * The board-page statement (exported for its tests); undefined when no list is left to read. The lists (from
 * the cursor's on) are unnested with their order, and for each a lateral subquery reads at most `limit` tasks
 * by an index range scan on tasks_board_order_idx; the outer ORDER BY is met by an Incremental Sort that stops
 * once `limit` rows are out. 'rows' selects TaskRows, 'versions' [id, stamp], 'digest' one row: the page's digest.
 */
export function boardPageQuery(
  orgId: string,
  boardId: string,
  listIds: readonly string[],
  filters: BoardFilters,
  after: PageCursor,
  limit: number,
  shape: 'rows' | 'versions' | 'digest' = 'rows',
): SqlFragment | undefined {
  const start = after?.listIndex ?? 0;
  const lists = listIds.slice(start);
  if (lists.length === 0 || limit <= 0) return undefined;
  const bounds = lists.map((_, i) => (i === 0 && after ? after.position : ''));
  const conditions: SqlFragment[] = [];
  if (filters.status) conditions.push(sql`and t.status = ${filters.status}`);
  if (filters.assigneeId) conditions.push(sql`and t.assignees @> array[${filters.assigneeId}::text]`);
  if (filters.label) conditions.push(sql`and t.labels @> array[${filters.label}::text]`);
  if (!filters.showArchived) conditions.push(sql`and not t.archived`);
  const [outer, inner] =
    shape === 'rows'
      ? [TASK_SELECT, TASK_COLUMNS]
      : shape === 'versions'
        ? [sql`t.id, ${ROW_STAMP}`, sql`t.id, t.xmin, t.version, t.position`]
        : [sql`t.id::text as id, ${ROW_STAMP} as stamp, l.ord, t.position`, sql`t.id, t.xmin, t.version, t.position`];
  const page = sql`select ${outer}
    from unnest(${lists}::uuid[], ${bounds}::text[]) with ordinality l(list_id, after, ord)
    cross join lateral (
      select ${inner} from tasks t
      where t.org_id = ${orgId}::uuid and t.board_id = ${boardId}::uuid and t.list_id = l.list_id and t.position > l.after collate "C" ${sql.join(conditions, ' ')}
      order by t.position limit ${limit}::int
    ) t
    order by l.ord, t.position limit ${limit}::int`;
  if (shape !== 'digest') return page;
  return sql`select encode(sha256(convert_to(coalesce(string_agg(p.id || ':' || p.stamp, ',' order by p.ord, p.position), ''), 'UTF8')), 'hex')
      from (${page}) p`;
}

/** The digest boardPageDigest computes, of boardPageVersions' rows ([id, stamp] in page order). */
export function pageDigestOf(rows: readonly TextRow[]): string {
  return createHash('sha256')
    .update(rows.map((row) => `${row[0]}:${row[1]}`).join(','), 'utf8')
    .digest('hex');
}
