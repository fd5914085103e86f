import type { Comment } from '@taskmesh/gen/taskmesh/task/v1/comment.js';
import { Priority, TaskStatus, priorityToJSON, taskStatusToJSON, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import type { CommentRecord, TaskRecord } from './db/entities.ts';
import { boardName, listName } from './board-directory.ts';
import type { Priority as DomainPriority, TaskStatus as DomainStatus } from './domain/task-rules.ts';

/** Proto ⇄ domain mapping of tasks and comments, shared by the handlers and the domain events. */

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

export function toTaskMessage(t: TaskRecord): Task {
  return {
    name: taskName(t),
    list: listName(t.orgId, t.boardId, t.listId),
    title: t.title,
    description: t.description,
    status: statusToProto(t.status),
    priority: priorityToProto(t.priority),
    assignees: t.assignees.map(userName),
    labels: [...t.labels],
    dueTime: t.dueTime ?? undefined,
    archived: t.archived,
    position: t.position,
    creator: userName(t.creatorId),
    etag: etagOf(t.version),
    createTime: t.createdAt,
    updateTime: t.updatedAt,
  };
}

export function toCommentMessage(c: CommentRecord): Comment {
  return { name: commentName(c), author: userName(c.authorId), body: c.body, createTime: c.createdAt };
}

/** A domain value in the resource's JSON mapping, for FieldChange (enums by name, times RFC 3339, users by name). */
export function jsonValueOf(field: string, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (field) {
    case 'status':
      return taskStatusToJSON(statusToProto(value as string));
    case 'priority':
      return priorityToJSON(priorityToProto(value as string));
    case 'assignees':
      return (value as string[]).map(userName);
    case 'due_time':
      return (value as Date).toISOString();
    default:
      return value;
  }
}
