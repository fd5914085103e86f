import type { Comment } from '@taskmesh/gen/taskmesh/task/v1/comment.js';
import { Priority, TaskStatus, priorityToJSON, taskStatusToJSON, type Task as TaskMessage } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { boardName, listName } from './board-directory.ts';
import { TASK_FIELDS, inputFieldOf, type Task, type TaskComment, type TaskContent, type UpdatableField, type WireKind } from './domain/task-fields.ts';
import { assigneeIdsOf, type Priority as DomainPriority, type TaskStatus as DomainStatus, type Violations } from './domain/task-rules.ts';

/** Proto ⇄ domain mapping of tasks and comments (driven by the manifest, domain/task-fields.ts). */

const STATUS_TO_PROTO: Record<DomainStatus, TaskStatus> = {
  TODO: TaskStatus.TASK_STATUS_TODO,
  IN_PROGRESS: TaskStatus.TASK_STATUS_IN_PROGRESS,
  DONE: TaskStatus.TASK_STATUS_DONE,
};
const PRIORITY_TO_PROTO: Record<DomainPriority, Priority> = {
  LOW: Priority.PRIORITY_LOW,
  MEDIUM: Priority.PRIORITY_MEDIUM,
  HIGH: Priority.PRIORITY_HIGH,
  URGENT: Priority.PRIORITY_URGENT,
};

export const statusToProto = (status: string) => STATUS_TO_PROTO[status as DomainStatus];
export const priorityToProto = (priority: string) => PRIORITY_TO_PROTO[priority as DomainPriority];

/** undefined for UNSPECIFIED or an unknown number. */
export function statusFromProto(status: TaskStatus): DomainStatus | undefined {
  return (Object.keys(STATUS_TO_PROTO) as DomainStatus[]).find((s) => STATUS_TO_PROTO[s] === status);
}
export function priorityFromProto(priority: Priority): DomainPriority | undefined {
  return (Object.keys(PRIORITY_TO_PROTO) as DomainPriority[]).find((p) => PRIORITY_TO_PROTO[p] === priority);
}

export const taskName = (t: { orgId: string; boardId: string; id: string }) => `${boardName(t.orgId, t.boardId)}/tasks/${t.id}`;
export const commentName = (c: { orgId: string; boardId: string; taskId: string; id: string }) =>
  `${boardName(c.orgId, c.boardId)}/tasks/${c.taskId}/comments/${c.id}`;
export const userName = (id: string) => `users/${id}`;
export const etagOf = (version: number) => `v${version}`;

function protoValueOf(kind: WireKind, value: unknown, task: Task): unknown {
  switch (kind) {
    case 'name':
      return taskName(task);
    case 'list':
      return listName(task.orgId, task.boardId, task.listId);
    case 'status':
      return statusToProto(value as string);
    case 'priority':
      return priorityToProto(value as string);
    case 'users':
      return (value as string[]).map(userName);
    case 'strings':
      return [...(value as string[])];
    case 'time':
      return value ?? undefined;
    case 'user':
      return userName(value as string);
    case 'etag':
      return etagOf(value as number);
    default:
      return value;
  }
}

export function toTaskMessage(task: Task): TaskMessage {
  const message: Record<string, unknown> = {};
  for (const field of TASK_FIELDS) {
    if ('proto' in field) message[field.proto.field] = protoValueOf(field.proto.kind, task[field.key], task);
  }
  return message as unknown as TaskMessage;
}

export function toCommentMessage(c: TaskComment): Comment {
  return { name: commentName(c), author: userName(c.authorId), body: c.body, createTime: c.createdAt };
}

/** A domain value in the resource's JSON mapping, for FieldChange (enums by name, times RFC 3339, users by name). */
export function jsonValueOf(path: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (inputFieldOf(path)?.proto.kind) {
    case 'status':
      return taskStatusToJSON(statusToProto(value as string));
    case 'priority':
      return priorityToJSON(priorityToProto(value as string));
    case 'users':
      return (value as string[]).map(userName);
    case 'time':
      return (value as Date).toISOString();
    default:
      return value;
  }
}

/** The updatable fields a Task message carries with a non-default value (an UpdateTask with an empty mask). */
export function presentFieldsOf(message: TaskMessage): UpdatableField[] {
  return TASK_FIELDS.flatMap((field) => {
    if (!('input' in field)) return [];
    const value = (message as unknown as Record<string, unknown>)[field.proto.field];
    const present = Array.isArray(value) ? value.length > 0 : value !== undefined && value !== '' && value !== 0 && value !== false;
    return present ? [field.proto.path] : [];
  });
}

/**
 * The domain values of `paths` from a Task message; bad values are reported to `v` and left out. With
 * `unsetIsMissing` (CreateTask), an enum that names no value is left out unreported, for the rules to judge.
 */
export function contentOf(message: TaskMessage, paths: readonly UpdatableField[], v: Violations, unsetIsMissing = false): Partial<TaskContent> {
  const values: Record<string, unknown> = {};
  for (const path of paths) {
    const field = inputFieldOf(path)!;
    const value = (message as unknown as Record<string, unknown>)[field.proto.field];
    switch (field.proto.kind) {
      case 'status': {
        const status = statusFromProto(value as TaskStatus);
        if (status) values[field.key] = status;
        else if (!unsetIsMissing) v.add('task.status', 'must be TASK_STATUS_TODO, TASK_STATUS_IN_PROGRESS or TASK_STATUS_DONE');
        break;
      }
      case 'priority': {
        const priority = priorityFromProto(value as Priority);
        if (priority) values[field.key] = priority;
        else if (!unsetIsMissing) v.add('task.priority', 'must be PRIORITY_LOW, PRIORITY_MEDIUM, PRIORITY_HIGH or PRIORITY_URGENT');
        break;
      }
      case 'users':
        values[field.key] = assigneeIdsOf(value as string[], v, `task.${path}`);
        break;
      case 'time':
        values[field.key] = value ?? null;
        break;
      default:
        values[field.key] = value;
    }
  }
  return values as Partial<TaskContent>;
}

/** Update-mask paths of what CreateTask takes besides its list. */
export const CREATE_PATHS = TASK_FIELDS.flatMap((f) => ('input' in f && f.input === 'create' ? [f.proto.path] : [])) as UpdatableField[];
