/**
 * THE manifest of a task's fields: the one place a task field is declared. Everything else is derived from it
 * — the Task type, the store's select lists, row parsing and written values (db/task-store.ts), the Task
 * message and its bytes (task-mapping.ts), update masks and creatable fields (handlers). Adding a field is a
 * line here, a column in a migration and a field in proto/.
 *
 * - `column`: the tasks column; `storage` how it is stored and read back as text (see db/task-store.ts).
 * - `proto`: the Task message field (ts-proto name, JSON/mask path, number, how it is written); absent for
 *   fields the message does not carry.
 * - `input`: 'create' — taken from CreateTask and UpdateTask (by update mask); 'update' — UpdateTask only.
 */
export type Storage = 'uuid' | 'text' | 'texts' | 'time' | 'bool' | 'int';
export type WireKind = 'name' | 'list' | 'string' | 'status' | 'priority' | 'users' | 'strings' | 'time' | 'bool' | 'user' | 'etag';

export interface TaskField {
  key: string;
  column: string;
  storage: Storage;
  nullable?: boolean;
  proto?: { field: string; path: string; number: number; kind: WireKind };
  input?: 'create' | 'update';
}

export const TASK_FIELDS = [
  { key: 'id', column: 'id', storage: 'uuid', proto: { field: 'name', path: 'name', number: 1, kind: 'name' } },
  { key: 'listId', column: 'list_id', storage: 'uuid', proto: { field: 'list', path: 'list', number: 2, kind: 'list' } },
  { key: 'title', column: 'title', storage: 'text', proto: { field: 'title', path: 'title', number: 3, kind: 'string' }, input: 'create' },
  { key: 'description', column: 'description', storage: 'text', proto: { field: 'description', path: 'description', number: 4, kind: 'string' }, input: 'create' },
  { key: 'status', column: 'status', storage: 'text', proto: { field: 'status', path: 'status', number: 5, kind: 'status' }, input: 'update' },
  { key: 'priority', column: 'priority', storage: 'text', proto: { field: 'priority', path: 'priority', number: 6, kind: 'priority' }, input: 'create' },
  { key: 'assignees', column: 'assignees', storage: 'texts', proto: { field: 'assignees', path: 'assignees', number: 7, kind: 'users' }, input: 'create' },
  { key: 'labels', column: 'labels', storage: 'texts', proto: { field: 'labels', path: 'labels', number: 8, kind: 'strings' }, input: 'create' },
  { key: 'dueTime', column: 'due_time', storage: 'time', nullable: true, proto: { field: 'dueTime', path: 'due_time', number: 9, kind: 'time' }, input: 'create' },
  { key: 'archived', column: 'archived', storage: 'bool', proto: { field: 'archived', path: 'archived', number: 10, kind: 'bool' }, input: 'update' },
  { key: 'position', column: 'position', storage: 'text', proto: { field: 'position', path: 'position', number: 11, kind: 'string' } },
  { key: 'creatorId', column: 'creator_id', storage: 'uuid', proto: { field: 'creator', path: 'creator', number: 12, kind: 'user' } },
  { key: 'version', column: 'version', storage: 'int', proto: { field: 'etag', path: 'etag', number: 13, kind: 'etag' } },
  { key: 'createdAt', column: 'created_at', storage: 'time', proto: { field: 'createTime', path: 'create_time', number: 14, kind: 'time' } },
  { key: 'updatedAt', column: 'updated_at', storage: 'time', proto: { field: 'updateTime', path: 'update_time', number: 15, kind: 'time' } },
  { key: 'startTime', column: 'start_time', storage: 'time', nullable: true, proto: { field: 'startTime', path: 'start_time', number: 16, kind: 'time' }, input: 'create' },
  { key: 'orgId', column: 'org_id', storage: 'uuid' },
  { key: 'boardId', column: 'board_id', storage: 'uuid' },
  { key: 'createRequestId', column: 'create_request_id', storage: 'text', nullable: true },
] as const satisfies readonly TaskField[];

type Fields = (typeof TASK_FIELDS)[number];
type ValueOf<F> = F extends { storage: 'texts' }
  ? string[]
  : F extends { storage: 'time' }
    ? Date
    : F extends { storage: 'bool' }
      ? boolean
      : F extends { storage: 'int' }
        ? number
        : string;
type Nullable<F, V> = F extends { nullable: true } ? V | null : V;

/** A task as the service holds it: one property per field of the manifest. */
export type Task = { -readonly [F in Fields as F['key']]: Nullable<F, ValueOf<F>> };
export type TaskKey = keyof Task;

/** The fields a request may set: `input` 'create' (CreateTask and UpdateTask) or 'update' (UpdateTask only). */
type InputFields = Extract<Fields, { input: 'create' | 'update' }>;
type CreateFields = Extract<Fields, { input: 'create' }>;
/** The editable content of a task (UpdateTask's fields), by key. */
export type TaskContent = { [F in InputFields as F['key']]: Task[F['key']] };
export type ContentKey = keyof TaskContent;
/** What CreateTask takes besides its list. */
export type CreatableContent = { [F in CreateFields as F['key']]: Task[F['key']] };

/** Update-mask paths (snake_case) of the updatable fields, in manifest order. */
export const UPDATABLE_FIELDS = TASK_FIELDS.filter((f): f is InputFields => 'input' in f).map((f) => f.proto.path);
export type UpdatableField = InputFields['proto']['path'];

const BY_PATH = new Map<string, InputFields>(TASK_FIELDS.filter((f): f is InputFields => 'input' in f).map((f) => [f.proto.path, f]));

/** The content key an update-mask path names. */
export function contentKeyOf(path: UpdatableField): ContentKey {
  return BY_PATH.get(path)!.key;
}

/** The manifest entry of an update-mask path (undefined for a path that is not updatable). */
export function inputFieldOf(path: string): InputFields | undefined {
  return BY_PATH.get(path);
}

/** Every nullable field at null: what a new task holds where its request said nothing. */
export const NULL_FIELDS = Object.fromEntries(TASK_FIELDS.filter((f) => 'nullable' in f).map((f) => [f.key, null])) as Partial<Task>;

/** The manifest entry of a key. */
export function fieldOf(key: TaskKey): Fields {
  return TASK_FIELDS.find((f) => f.key === key)!;
}

/** A comment on a task, as stored. */
export interface TaskComment {
  id: string;
  orgId: string;
  /** Assigned by the database on insert; the order of a task's comments (null until written). */
  seq: string | null;
  taskId: string;
  boardId: string;
  authorId: string;
  body: string;
  createRequestId: string | null;
  createdAt: Date;
}
