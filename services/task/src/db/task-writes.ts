import type { EntityManager, PostgreSqlConnection } from '@mikro-orm/postgresql';
import pg from 'pg';
import { APP_ROLE } from '@taskmesh/runtime/database';
import { outboxInsertSql, outboxRowOf, type DomainEvent } from '@taskmesh/runtime/outbox';
import { ORG_SETTING } from '@taskmesh/runtime/tenancy';
import type { CommentRecord, TaskRecord } from './entities.ts';
import type { TaskObjectRow } from './task-rows.ts';

/**
 * The task writes (create, move, update, delete) as plain SQL in two round trips on one pooled connection,
 * instead of MikroORM's transaction (`begin`, `set_config`, each select, each insert or update, `commit`: 6–7
 * round trips, plus the unit of work's change sets).
 *
 *   message 1: begin; set local role taskmesh_app; set local search_path to "<schema>";
 *              select set_config('app.org_id', '<org>', true); <the reads: locks, keys, request id>
 *   (the caller decides in JS: the new order key, the new values, the events)
 *   message 2: <the change>; <the outbox rows>; commit
 *
 * Each message is one simple-protocol Query; `begin` in the first keeps the transaction open across both.
 * RLS holds as in the ORM's transaction: every statement runs as the app role (no superuser, no BYPASSRLS — set
 * in the message, not trusted from the pool's connect hook) with the org set, so another org's rows are
 * invisible and a row of another org cannot be written (the policies' WITH CHECK); the org is also named in
 * every statement (the ORM-side wall). Role, search path and org are transaction-local: nothing outlives the
 * transaction on the pooled connection. If anything fails, or the caller ends without committing, the
 * transaction is rolled back; if even that fails, the connection is discarded, never returned to the pool in
 * an unknown state.
 *
 * Values are literals (node-postgres's escapeLiteral; ids are validated UUIDs or made here), because the
 * simple protocol takes no parameters and the extended protocol would cost a round trip per statement.
 * The events are the same DomainEvents the ORM path records (events/task-events.ts), written with
 * outboxInsertSql; the caller nudges the outbox relay after the commit, since the ORM's commit hook does not
 * see plain SQL.
 */

/** One org's write transaction on one pooled connection; see withOrgWrite. */
export class OrgWrite {
  /** 'open' from the moment `begin` may have run until the commit succeeded. */
  private state: 'new' | 'open' | 'committed' = 'new';

  constructor(
    private readonly client: pg.PoolClient,
    readonly orgId: string,
    private readonly schema: string,
  ) {}

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Message 1: opens the transaction as the app role with the org set, then runs `statements`; their results. */
  async begin(statements: readonly string[]): Promise<pg.QueryResult[]> {
    if (this.state !== 'new') throw new Error('OrgWrite: begun twice');
    const text =
      `begin; set local role ${pg.escapeIdentifier(APP_ROLE)}; set local search_path to ${pg.escapeIdentifier(this.schema)}; ` +
      `select set_config(${pg.escapeLiteral(ORG_SETTING)}, ${pg.escapeLiteral(this.orgId)}, true); ${statements.join('; ')}`;
    this.state = 'open';
    const results = await this.send(text, 4 + statements.length);
    return results.slice(4);
  }

  /** Message 2: runs `statements` then commits; their results. */
  async commit(statements: readonly string[]): Promise<pg.QueryResult[]> {
    if (this.state !== 'open') throw new Error('OrgWrite: nothing to commit');
    const results = await this.send([...statements, 'commit'].join('; '), statements.length + 1);
    this.state = 'committed';
    return results.slice(0, statements.length);
  }

  private async send(text: string, count: number): Promise<pg.QueryResult[]> {
    // node-postgres gives one result per statement: an array, unless there was only one.
    const answer = (await this.client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
    const results = Array.isArray(answer) ? answer : [answer];
    if (results.length !== count) throw new Error(`OrgWrite: expected ${count} results`);
    return results;
  }
}

/**
 * Runs `body` with a write transaction of `orgId` on a connection of the ORM's pool. Whatever `body` leaves
 * uncommitted (it returned early, or threw, a statement's error included) is rolled back before the
 * connection goes back; a connection that cannot be rolled back is discarded.
 */
export async function withOrgWrite<T>(em: EntityManager, orgId: string, body: (tx: OrgWrite) => Promise<T>): Promise<T> {
  const schema = em.config.get('schema');
  if (!schema) throw new Error('withOrgWrite: the ORM has no schema');
  const pool = (await (em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
  const client = await pool.connect();
  const tx = new OrgWrite(client, orgId, schema);
  let broken: Error | undefined;
  try {
    return await body(tx);
  } finally {
    if (tx.isOpen) {
      try {
        await client.query('rollback');
      } catch (err) {
        broken = err as Error;
      }
    }
    client.release(broken);
  }
}

// ---- SQL literals ----------------------------------------------------------------------------------

/** A text literal. PostgreSQL text cannot hold NUL (and a simple-protocol query cannot carry one). */
export function text(value: string): string {
  if (value.includes('\0')) throw new Error('a text value cannot contain NUL');
  return pg.escapeLiteral(value);
}

const textArray = (values: readonly string[]) => (values.length === 0 ? `'{}'::text[]` : `array[${values.map(text).join(', ')}]::text[]`);
const time = (value: Date | null) => (value === null ? 'null' : `${text(value.toISOString())}::timestamptz`);
function integer(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error('not an integer');
  return String(value);
}
const bool = (value: boolean) => (value ? 'true' : 'false');

// ---- task rows ---------------------------------------------------------------------------------------

/** Column → how a TaskRecord's value is written. */
const TASK_COLUMNS: { column: string; key: keyof TaskRecord; literal: (value: never) => string }[] = [
  { column: 'id', key: 'id', literal: text },
  { column: 'org_id', key: 'orgId', literal: text },
  { column: 'board_id', key: 'boardId', literal: text },
  { column: 'list_id', key: 'listId', literal: text },
  { column: 'position', key: 'position', literal: text },
  { column: 'title', key: 'title', literal: text },
  { column: 'description', key: 'description', literal: text },
  { column: 'status', key: 'status', literal: text },
  { column: 'priority', key: 'priority', literal: text },
  { column: 'assignees', key: 'assignees', literal: textArray },
  { column: 'labels', key: 'labels', literal: textArray },
  { column: 'due_time', key: 'dueTime', literal: time },
  { column: 'archived', key: 'archived', literal: bool },
  { column: 'creator_id', key: 'creatorId', literal: text },
  { column: 'create_request_id', key: 'createRequestId', literal: (v: string | null) => (v === null ? 'null' : text(v)) },
  { column: 'version', key: 'version', literal: integer },
  { column: 'created_at', key: 'createdAt', literal: time },
  { column: 'updated_at', key: 'updatedAt', literal: time },
];
const COLUMN_OF = new Map(TASK_COLUMNS.map((c) => [c.key, c]));
const SELECTED = TASK_COLUMNS.map((c) => `t.${c.column}`).join(', ');

function literalOf(task: TaskRecord, key: keyof TaskRecord): string {
  const column = COLUMN_OF.get(key);
  if (!column) throw new Error(`not a task column: ${String(key)}`);
  return column.literal(task[key] as never);
}

type TaskRow = TaskObjectRow;

const asDate = (value: Date | string) => (value instanceof Date ? value : new Date(value));

/** A task (a plain record, not an entity) from a row read here. */
function taskOfRow(r: TaskRow): TaskRecord {
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

const outboxRows = (events: readonly DomainEvent[]) => events.map(outboxRowOf);

// ---- create ------------------------------------------------------------------------------------------

/**
 * Message 1 of a create: the task an earlier create with this request id made (if any), and the list's last
 * order key.
 */
export async function beginCreate(
  tx: OrgWrite,
  listId: string,
  requestId: string,
): Promise<{ earlier: TaskRecord | null; lastPosition: string | null }> {
  const org = text(tx.orgId);
  const statements = [
    `select t.position from tasks t where t.org_id = ${org} and t.list_id = ${text(listId)} order by t.position desc limit 1`,
  ];
  if (requestId) {
    statements.push(`select ${SELECTED} from tasks t where t.org_id = ${org} and t.create_request_id = ${text(requestId)}`);
  }
  const [last, earlier] = await tx.begin(statements);
  const earlierRow = earlier?.rows[0] as TaskRow | undefined;
  return { earlier: earlierRow ? taskOfRow(earlierRow) : null, lastPosition: (last!.rows[0] as { position: string } | undefined)?.position ?? null };
}

/**
 * Message 2 of a create: the task and its events, then commit. False (and nothing written, the empty
 * transaction committed) when a concurrent write took the task's order key; a request id taken concurrently
 * is a unique violation (tasks_create_request_idx), thrown.
 */
export async function commitCreate(tx: OrgWrite, task: TaskRecord, events: readonly DomainEvent[]): Promise<boolean> {
  const columns = TASK_COLUMNS.map((c) => c.column).join(', ');
  const values = TASK_COLUMNS.map((c) => literalOf(task, c.key)).join(', ');
  const [written] = await tx.commit([
    `with t as (insert into tasks (${columns}) values (${values}) on conflict (org_id, list_id, position) do nothing returning 1) ` +
      outboxInsertSql(outboxRows(events), { onlyIfRowsIn: 't' }),
  ]);
  return written!.rowCount === events.length;
}

// ---- move, update, delete ----------------------------------------------------------------------------

/*
 * A row is looked up by org and id only; its board (or task) is compared here, in JS. With the board in the
 * WHERE clause too, PostgreSQL without statistics on the table (a fresh or freshly filled database, before
 * autoanalyze) chose tasks_board_order_idx (org_id, board_id, …) and filtered the whole board by id — 4.5 ms
 * instead of 0.09 ms on 3,000 tasks (EXPLAIN ANALYZE). By org and id, the primary key is the only sensible plan.
 * Locking a row of the org that then turns out to be on another board is harmless: the caller answers NOT_FOUND
 * and the rollback releases it.
 */
export const taskLockStatement = (orgId: string, taskId: string) =>
  `select ${SELECTED} from tasks t where t.org_id = ${text(orgId)} and t.id = ${text(taskId)} for update`;
const lockTask = (tx: OrgWrite, taskId: string) => taskLockStatement(tx.orgId, taskId);

function taskOnBoard(row: TaskRow | undefined, boardId: string): TaskRecord | null {
  return row && row.board_id === boardId ? taskOfRow(row) : null;
}

/** Message 1 of an update or delete: the task, locked (null when it is not there or on another board). */
export async function beginLocked(tx: OrgWrite, boardId: string, taskId: string): Promise<TaskRecord | null> {
  const [locked] = await tx.begin([lockTask(tx, taskId)]);
  return taskOnBoard(locked!.rows[0] as TaskRow | undefined, boardId);
}

export interface MoveReads {
  /** The task, locked; null when it is not there. */
  task: TaskRecord | null;
  /** Without an anchor: the last key of the target list, the task left out. */
  lastPosition?: string | null;
  /** With an anchor: its list and key, and the nearest key on the far side of it in its list (task left out). */
  anchor?: { listId: string; position: string; neighbour: string | null } | null;
}

/**
 * Message 1 of a move: the task locked, then either the target list's last key or the anchor with its
 * neighbour. The target list is `listId`, or the task's own list when none is given.
 */
export async function beginMove(
  tx: OrgWrite,
  boardId: string,
  taskId: string,
  target: { listId?: string | undefined; anchorId?: string | undefined; side: 'before' | 'after' },
): Promise<MoveReads> {
  const org = text(tx.orgId);
  const id = text(taskId);
  const statements = [lockTask(tx, taskId)];
  if (target.anchorId) {
    const [cmp, order] = target.side === 'before' ? ['<', 'desc'] : ['>', 'asc'];
    statements.push(
      `select a.board_id, a.list_id, a.position, (select n.position from tasks n where n.org_id = ${org} and n.list_id = a.list_id and n.id <> ${id} ` +
        `and n.position ${cmp} a.position order by n.position ${order} limit 1) as neighbour ` +
        `from tasks a where a.org_id = ${org} and a.id = ${text(target.anchorId)}`,
    );
  } else {
    const list = target.listId ? text(target.listId) : `(select m.list_id from tasks m where m.org_id = ${org} and m.id = ${id})`;
    statements.push(`select t.position from tasks t where t.org_id = ${org} and t.list_id = ${list} and t.id <> ${id} order by t.position desc limit 1`);
  }
  const [locked, second] = await tx.begin(statements);
  const reads: MoveReads = { task: taskOnBoard(locked!.rows[0] as TaskRow | undefined, boardId) };
  if (target.anchorId) {
    const a = second!.rows[0] as { board_id: string; list_id: string; position: string; neighbour: string | null } | undefined;
    reads.anchor = a && a.board_id === boardId ? { listId: a.list_id, position: a.position, neighbour: a.neighbour } : null;
  } else {
    reads.lastPosition = (second!.rows[0] as { position: string } | undefined)?.position ?? null;
  }
  return reads;
}

/**
 * Message 2 of a move or an update: writes the given fields of the (locked) task and its events, then
 * commits. A key taken concurrently is a unique violation (tasks_list_position_idx), thrown.
 */
export async function commitChange(
  tx: OrgWrite,
  task: TaskRecord,
  keys: readonly (keyof TaskRecord)[],
  events: readonly DomainEvent[],
): Promise<void> {
  const set = keys.map((key) => `${COLUMN_OF.get(key)!.column} = ${literalOf(task, key)}`).join(', ');
  const statements = [`update tasks set ${set} where org_id = ${text(tx.orgId)} and id = ${text(task.id)}`];
  if (events.length > 0) statements.push(outboxInsertSql(outboxRows(events)));
  const [updated] = await tx.commit(statements);
  if (updated!.rowCount !== 1) throw new Error('the locked task was not updated');
}

/** Message 2 of a delete: the task's comments, its event, the task, then commit. */
export async function commitDelete(tx: OrgWrite, taskId: string, events: readonly DomainEvent[]): Promise<void> {
  const org = text(tx.orgId);
  const id = text(taskId);
  const [, , deleted] = await tx.commit([
    `delete from comments where org_id = ${org} and task_id = ${id}`,
    outboxInsertSql(outboxRows(events)),
    `delete from tasks where org_id = ${org} and id = ${id}`,
  ]);
  if (deleted!.rowCount !== 1) throw new Error('the locked task was not deleted');
}

// ---- comments ----------------------------------------------------------------------------------------

const COMMENT_SELECTED = 'c.id, c.org_id, c.seq, c.task_id, c.board_id, c.author_id, c.body, c.create_request_id, c.created_at';

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

function commentOfRow(r: CommentRow): CommentRecord {
  return {
    id: r.id,
    orgId: r.org_id,
    seq: String(r.seq),
    taskId: r.task_id,
    boardId: r.board_id,
    authorId: r.author_id,
    body: r.body,
    createRequestId: r.create_request_id,
    createdAt: asDate(r.created_at),
  } as CommentRecord;
}

/**
 * Message 1 of adding a comment: whether the task is there (kept from being deleted until the commit, as the
 * foreign key would at the insert), and the comment an earlier add with this request id made (if any).
 */
export async function beginAddComment(
  tx: OrgWrite,
  boardId: string,
  taskId: string,
  requestId: string,
): Promise<{ taskExists: boolean; earlier: CommentRecord | null }> {
  const org = text(tx.orgId);
  // By org and id, the board compared below (see lockTask).
  const statements = [`select t.board_id from tasks t where t.org_id = ${org} and t.id = ${text(taskId)} for key share`];
  if (requestId) {
    statements.push(`select ${COMMENT_SELECTED} from comments c where c.org_id = ${org} and c.create_request_id = ${text(requestId)}`);
  }
  const [task, earlier] = await tx.begin(statements);
  const earlierRow = earlier?.rows[0] as CommentRow | undefined;
  const taskExists = (task!.rows[0] as { board_id: string } | undefined)?.board_id === boardId;
  return { taskExists, earlier: earlierRow ? commentOfRow(earlierRow) : null };
}

/** Message 2 of adding a comment: the comment (its seq is set from the database) and its event, then commit. */
export async function commitAddComment(tx: OrgWrite, comment: CommentRecord, events: readonly DomainEvent[]): Promise<void> {
  const values = [
    text(comment.id),
    text(comment.orgId),
    text(comment.taskId),
    text(comment.boardId),
    text(comment.authorId),
    text(comment.body),
    comment.createRequestId === null || comment.createRequestId === undefined ? 'null' : text(comment.createRequestId),
    time(comment.createdAt),
  ].join(', ');
  const [inserted] = await tx.commit([
    `insert into comments (id, org_id, task_id, board_id, author_id, body, create_request_id, created_at) values (${values}) returning seq`,
    outboxInsertSql(outboxRows(events)),
  ]);
  comment.seq = String((inserted!.rows[0] as { seq: string }).seq);
}

/** Message 1 of deleting a comment: the comment of this task, locked (null when it is not there or of another task). */
export async function beginDeleteComment(tx: OrgWrite, taskId: string, commentId: string): Promise<CommentRecord | null> {
  const [locked] = await tx.begin([
    // By org and id, the task compared below (see lockTask).
    `select ${COMMENT_SELECTED} from comments c where c.org_id = ${text(tx.orgId)} and c.id = ${text(commentId)} for update`,
  ]);
  const row = locked!.rows[0] as CommentRow | undefined;
  return row && row.task_id === taskId ? commentOfRow(row) : null;
}

/** Message 2 of deleting a comment: its event, the comment, then commit. */
export async function commitDeleteComment(tx: OrgWrite, commentId: string, events: readonly DomainEvent[]): Promise<void> {
  const [, deleted] = await tx.commit([
    outboxInsertSql(outboxRows(events)),
    `delete from comments where org_id = ${text(tx.orgId)} and id = ${text(commentId)}`,
  ]);
  if (deleted!.rowCount !== 1) throw new Error('the locked comment was not deleted');
}
