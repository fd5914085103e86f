import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { boardName } from '../board-directory.ts';
import { TASK_FIELDS, type WireKind } from '../domain/task-fields.ts';
import { priorityToProto, statusToProto } from '../task-mapping.ts';
import { msOf, textArrayOf, type TaskRow } from './task-store.ts';

/**
 * Task rows straight to protobuf bytes, for the read RPCs (ListTasks above all: up to 500 tasks a page),
 * field by field as the manifest (domain/task-fields.ts) says: each row's text goes into one BinaryWriter, the
 * name and list prefixes of a board encoded once and copied, times written from integer milliseconds, with no
 * Task object in between. Listings mostly copy the bytes of tasks encoded before (task-bytes-cache.ts).
 *
 * The bytes are exactly those of `ListTasksResponse.encode` / `Task.encode` of `toTaskMessage(record)` (same
 * fields in the same order, the same defaults left out, the same Timestamp arithmetic, negative times
 * included): task-reads.test.ts compares them over generated tasks.
 */

/** A task of a listing as its Task message's bytes, with what its page token needs. */
export interface TaskBytes {
  id: string;
  listId: string;
  position: string;
  /** The Task message (no tag or length of its own). */
  bytes: Uint8Array;
}

/** A response whose bytes are already made; the service definition's serializer passes them through. */
export class EncodedMessage {
  constructor(readonly bytes: Buffer) {}
}

const TAG_LIST = 18; // Task.list: 2, length-delimited
const TAG_SECONDS = 8; // Timestamp.seconds, varint
const TAG_NANOS = 16; // Timestamp.nanos, varint
/** ListTasksResponse.tasks (1) and next_page_token (2); GetTaskResponse.task (1). */
const TAG_RESPONSE_TASKS = 10;
const TAG_RESPONSE_TOKEN = 18;

/** A constant ASCII start of a string field, encoded once. */
interface Prefix {
  text: string;
  bytes: Uint8Array;
}
const prefix = (text: string): Prefix => ({ text, bytes: Buffer.from(text, 'latin1') });

/** The parts of a task's bytes that are the same for every task of a board (kept per board: BoardPrefixes.of). */
export class BoardPrefixes {
  /** "organizations/{org}/boards/{board}/tasks/" */
  readonly taskName: Prefix;
  private readonly listName: string;
  private readonly lists = new Map<string, Uint8Array>();

  constructor(
    readonly orgId: string,
    readonly boardId: string,
  ) {
    const board = boardName(orgId, boardId);
    this.taskName = prefix(`${board}/tasks/`);
    this.listName = `${board}/lists/`;
  }

  /** The whole `list` field (tag, length, name) of a list of the board. */
  listField(listId: string): Uint8Array {
    let field = this.lists.get(listId);
    if (!field) {
      const w = new BinaryWriter();
      w.uint32(TAG_LIST).string(this.listName + listId);
      field = w.finish();
      if (this.lists.size >= MAX_LISTS_KEPT) this.lists.clear();
      this.lists.set(listId, field);
    }
    return field;
  }

  /** The prefixes of a board, kept for the boards read last (GetTask reads one task at a time). */
  static of(orgId: string, boardId: string): BoardPrefixes {
    const key = `${orgId}/${boardId}`;
    let prefixes = recentBoards.get(key);
    if (!prefixes) {
      prefixes = new BoardPrefixes(orgId, boardId);
      if (recentBoards.size >= MAX_BOARDS_KEPT) recentBoards.clear();
      recentBoards.set(key, prefixes);
    }
    return prefixes;
  }
}

const MAX_LISTS_KEPT = 200;
const MAX_BOARDS_KEPT = 256;
const recentBoards = new Map<string, BoardPrefixes>();

const USERS = prefix('users/');
const ETAG = prefix('v');

/** One writer for the process: encoding is synchronous, and its grown buffer is kept between calls. */
const shared = new BinaryWriter();

function writeTimestamp(w: BinaryWriter, tag: number, msText: string): void {
  // As ts-proto's toTimestamp: seconds truncated toward zero, nanos the signed remainder (negative before 1970).
  const ms = msOf(msText);
  const seconds = Math.trunc(ms / 1000);
  const nanos = (ms % 1000) * 1_000_000;
  w.uint32(tag).fork();
  if (seconds !== 0) {
    if (seconds > 0 && seconds <= 0xffffffff) w.uint32(TAG_SECONDS).uint32(seconds);
    else w.uint32(TAG_SECONDS).int64(seconds);
  }
  if (nanos !== 0) w.uint32(TAG_NANOS).int32(nanos);
  w.join();
}

function writeString(w: BinaryWriter, tag: number, value: string): void {
  if (value !== '') w.uint32(tag).string(value);
}

/** The field `tag` holding prefix + suffix, the prefix's bytes copied as they are. */
function writePrefixed(w: BinaryWriter, tag: number, start: Prefix, suffix: string): void {
  const bytes = asciiBytes(suffix);
  if (bytes) w.uint32(tag).uint32(start.bytes.length + bytes.length).raw(start.bytes).raw(bytes);
  else w.uint32(tag).string(start.text + suffix);
}

const scratch = new Uint8Array(128);
const scratchViews: Uint8Array[] = [];

/** The bytes of short ASCII text (ids, versions), in a scratch buffer valid until the next call; else undefined. */
function asciiBytes(text: string): Uint8Array | undefined {
  const len = text.length;
  if (len > scratch.length) return undefined;
  for (let i = 0; i < len; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return undefined;
    scratch[i] = code;
  }
  return (scratchViews[len] ??= scratch.subarray(0, len));
}

/** How each message field of the manifest is written, in field-number order (ts-proto's order here). */
const VARINT_KINDS: ReadonlySet<WireKind> = new Set(['status', 'priority', 'bool']);
const WIRE_PLAN = TASK_FIELDS.map((f, index) => ({ f, index }))
  .filter((e) => 'proto' in e.f)
  .map(({ f, index }) => {
    const { number, kind } = (f as Extract<(typeof TASK_FIELDS)[number], { proto: unknown }>).proto;
    return { index, kind, tag: (number << 3) | (VARINT_KINDS.has(kind) ? 0 : 2), number };
  })
  .sort((a, b) => a.number - b.number);

function enumOf(kind: 'status' | 'priority', text: string): number {
  const value = kind === 'status' ? statusToProto(text) : priorityToProto(text);
  if (value === undefined) throw new Error(`a task row has an unknown ${kind}`);
  return value;
}

/** One Task message (without its own tag and length) from a row of a board's task. */
function writeTask(w: BinaryWriter, prefixes: BoardPrefixes, r: TaskRow): void {
  for (const { index, kind, tag } of WIRE_PLAN) {
    const text = r[index];
    if (text === null || text === undefined) continue;
    switch (kind) {
      case 'name':
        writePrefixed(w, tag, prefixes.taskName, text);
        break;
      case 'list':
        w.raw(prefixes.listField(text));
        break;
      case 'string':
        writeString(w, tag, text);
        break;
      case 'status':
      case 'priority': {
        const value = enumOf(kind, text);
        if (value !== 0) w.uint32(tag).int32(value);
        break;
      }
      case 'users':
        for (const user of textArrayOf(text)) writePrefixed(w, tag, USERS, user);
        break;
      case 'strings':
        for (const item of textArrayOf(text)) w.uint32(tag).string(item);
        break;
      case 'time':
        writeTimestamp(w, tag, text);
        break;
      case 'bool':
        if (text === 't') w.uint32(tag).bool(true);
        break;
      case 'user':
        writePrefixed(w, tag, USERS, text);
        break;
      case 'etag':
        writePrefixed(w, tag, ETAG, text);
        break;
    }
  }
}

/** Bytes of the writer's content, handed over without another copy; the writer is reset. */
function take(w: BinaryWriter): Buffer {
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** One Task message (no tag or length of its own) from a task row of the board `prefixes` were made for. */
export function encodeTask(prefixes: BoardPrefixes, row: TaskRow): Uint8Array {
  const w = shared;
  try {
    writeTask(w, prefixes, row);
    return w.finish();
  } catch (error) {
    w.finish();
    throw error;
  }
}

/** ListTasksResponse { tasks, next_page_token } of Task messages (encodeTask), copied once into one buffer. */
export function listTasksResponseOf(tasks: readonly Uint8Array[], nextPageToken: string): Buffer {
  const tokenLength = Buffer.byteLength(nextPageToken, 'utf8');
  let size = tokenLength === 0 ? 0 : 1 + varintSize(tokenLength) + tokenLength;
  for (const task of tasks) size += 1 + varintSize(task.length) + task.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const task of tasks) {
    out[pos++] = TAG_RESPONSE_TASKS;
    pos = writeVarint(out, pos, task.length);
    out.set(task, pos);
    pos += task.length;
  }
  if (tokenLength !== 0) {
    out[pos++] = TAG_RESPONSE_TOKEN;
    pos = writeVarint(out, pos, tokenLength);
    pos += out.write(nextPageToken, pos, 'utf8');
  }
  if (pos !== size) throw new Error('listTasksResponseOf: size mismatch');
  return out;
}

/** ListTasksResponse { tasks, next_page_token } of rows of one board. */
export function encodeListTasksResponse(orgId: string, boardId: string, rows: readonly TaskRow[], nextPageToken: string): Buffer {
  const prefixes = BoardPrefixes.of(orgId, boardId);
  return listTasksResponseOf(rows.map((row) => encodeTask(prefixes, row)), nextPageToken);
}

/** Bytes of an unsigned varint of a length (< 2^32). */
function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value > 0x7f) {
    out[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  out[pos++] = value;
  return pos;
}

/** GetTaskResponse { task } (and the like: any response whose field 1 is the task). */
export function encodeTaskResponse(orgId: string, boardId: string, row: TaskRow): Buffer {
  const w = shared;
  try {
    w.uint32(TAG_RESPONSE_TASKS).fork();
    writeTask(w, BoardPrefixes.of(orgId, boardId), row);
    w.join();
    return take(w);
  } catch (error) {
    w.finish();
    throw error;
  }
}
