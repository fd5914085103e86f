import pg from 'pg';
import type { TaskRecord } from './entities.ts';
import type { TextRow } from './one-trip-read.ts';

/**
 * A task as the read paths select it: one array of PostgreSQL's text output per row, in the order of
 * TASK_ROW_COLUMNS (or its first part, TASK_WIRE_COLUMNS), nothing parsed by the driver. Org and board are
 * not selected: the queries name them, so the caller knows them. Times come as integer milliseconds since
 * the epoch (floor of the stored microseconds, the same instant node-postgres's Date would hold), far
 * cheaper to read than the timestamp text.
 */
const WIRE_COLUMNS = [
  't.id',
  't.list_id',
  't.position',
  't.title',
  't.description',
  't.status',
  't.priority',
  't.assignees',
  't.labels',
  'floor(extract(epoch from t.due_time) * 1000)::int8',
  't.archived',
  't.creator_id',
  't.version',
  'floor(extract(epoch from t.created_at) * 1000)::int8',
  'floor(extract(epoch from t.updated_at) * 1000)::int8',
];
/** What a Task message is made of (task-wire.ts): the columns up to Col.createRequestId, not included. */
export const TASK_WIRE_COLUMNS = WIRE_COLUMNS.join(', ');
/** Every column a TaskRecord needs (taskRecordOf). */
export const TASK_ROW_COLUMNS = [...WIRE_COLUMNS, 't.create_request_id'].join(', ');

/** Column indexes of a task row. */
export const Col = {
  id: 0,
  listId: 1,
  position: 2,
  title: 3,
  description: 4,
  status: 5,
  priority: 6,
  assignees: 7,
  labels: 8,
  dueMs: 9,
  archived: 10,
  creatorId: 11,
  version: 12,
  createdMs: 13,
  updatedMs: 14,
  /** Not in TASK_WIRE_COLUMNS. */
  createRequestId: 15,
} as const;

export type TaskRow = TextRow;

const TEXT_ARRAY_OID = 1009; // text[] (pg-types names no array types)
const parseTextArray = (pg.types.getTypeParser as (oid: number) => unknown)(TEXT_ARRAY_OID) as (text: string) => (string | null)[];

/**
 * A text[] column's elements. The common forms (empty, or elements PostgreSQL did not need to quote) are
 * split here; anything quoted, escaped or NULL goes to node-postgres's own array parser.
 */
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

/** The record the entity would hold, for callers that need the domain object (update, comments, checks). */
export function taskRecordOf(orgId: string, boardId: string, r: TaskRow): TaskRecord {
  return {
    id: r[Col.id]!,
    orgId,
    boardId,
    listId: r[Col.listId]!,
    position: r[Col.position]!,
    title: r[Col.title]!,
    description: r[Col.description]!,
    status: r[Col.status]!,
    priority: r[Col.priority]!,
    assignees: textArrayOf(r[Col.assignees]!),
    labels: textArrayOf(r[Col.labels]!),
    dueTime: r[Col.dueMs] === null ? null : new Date(msOf(r[Col.dueMs]!)),
    archived: r[Col.archived] === 't',
    creatorId: r[Col.creatorId]!,
    createRequestId: r[Col.createRequestId] ?? null,
    version: Number(r[Col.version]),
    createdAt: new Date(msOf(r[Col.createdMs]!)),
    updatedAt: new Date(msOf(r[Col.updatedMs]!)),
  } as TaskRecord;
}

/** A task's row as node-postgres parses it with its default type parsers (the transactional reads and the writes). */
export interface TaskObjectRow {
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
