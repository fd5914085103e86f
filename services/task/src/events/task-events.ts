import {
  CommentAdded,
  CommentDeleted,
  TaskAssigned,
  TaskCreated,
  TaskDeleted,
  TaskMoved,
  TaskStatusChanged,
  TaskUpdated,
} from '@taskmesh/gen/taskmesh/task/v1/events.js';
import type { EntityManager } from '@mikro-orm/postgresql';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import type { CommentRecord, TaskRecord } from '../db/entities.ts';
import type { ContentChange } from '../domain/task-rules.ts';
import { listName } from '../board-directory.ts';
import { commentName, jsonValueOf, statusToProto, taskName, toCommentMessage, toTaskMessage, userName } from '../task-messages.ts';

/**
 * The task service's domain events, written to the outbox through the same EntityManager (and so the same
 * transaction) as the change they describe.
 */
const orgName = (orgId: string) => `organizations/${orgId}`;

function where(resource: string, orgId: string, actorId: string) {
  return { resource, organization: orgName(orgId), actor: userName(actorId) };
}

export function recordTaskCreated(em: EntityManager, task: TaskRecord, actorId: string): void {
  const at = where(taskName(task), task.orgId, actorId);
  recordEvent(em, domainEvent('taskmesh.task.v1.TaskCreated', TaskCreated, { task: toTaskMessage(task) }, at));
  if (task.assignees.length > 0) recordTaskAssigned(em, task, task.assignees, actorId);
}

export function recordTaskAssigned(em: EntityManager, task: TaskRecord, added: string[], actorId: string): void {
  const payload = { task: taskName(task), title: task.title, assignees: added.map(userName) };
  recordEvent(em, domainEvent('taskmesh.task.v1.TaskAssigned', TaskAssigned, payload, where(taskName(task), task.orgId, actorId)));
}

export function recordTaskUpdated(
  em: EntityManager,
  task: TaskRecord,
  changes: ContentChange[],
  addedAssignees: string[],
  actorId: string,
): void {
  const at = where(taskName(task), task.orgId, actorId);
  const fieldChanges = changes.map((c) => ({
    field: c.field,
    oldValue: jsonValueOf(c.field, c.oldValue),
    newValue: jsonValueOf(c.field, c.newValue),
  }));
  recordEvent(em, domainEvent('taskmesh.task.v1.TaskUpdated', TaskUpdated, { task: toTaskMessage(task), changes: fieldChanges }, at));
  const status = changes.find((c) => c.field === 'status');
  if (status) {
    const payload = {
      task: taskName(task),
      oldStatus: statusToProto(status.oldValue as string),
      newStatus: statusToProto(status.newValue as string),
    };
    recordEvent(em, domainEvent('taskmesh.task.v1.TaskStatusChanged', TaskStatusChanged, payload, at));
  }
  if (addedAssignees.length > 0) recordTaskAssigned(em, task, addedAssignees, actorId);
}

export function recordTaskMoved(
  em: EntityManager,
  task: TaskRecord,
  from: { listId: string; position: string },
  actorId: string,
): void {
  const payload = {
    task: toTaskMessage(task),
    oldList: listName(task.orgId, task.boardId, from.listId),
    newList: listName(task.orgId, task.boardId, task.listId),
    oldPosition: from.position,
    newPosition: task.position,
  };
  recordEvent(em, domainEvent('taskmesh.task.v1.TaskMoved', TaskMoved, payload, where(taskName(task), task.orgId, actorId)));
}

export function recordTaskDeleted(
  em: EntityManager,
  task: Pick<TaskRecord, 'id' | 'orgId' | 'boardId' | 'listId' | 'title'>,
  actorId: string,
): void {
  const payload = { task: taskName(task), list: listName(task.orgId, task.boardId, task.listId), title: task.title };
  recordEvent(em, domainEvent('taskmesh.task.v1.TaskDeleted', TaskDeleted, payload, where(taskName(task), task.orgId, actorId)));
}

export function recordCommentAdded(em: EntityManager, comment: CommentRecord, actorId: string): void {
  const at = where(commentName(comment), comment.orgId, actorId);
  recordEvent(em, domainEvent('taskmesh.task.v1.CommentAdded', CommentAdded, { comment: toCommentMessage(comment) }, at));
}

export function recordCommentDeleted(em: EntityManager, comment: CommentRecord, actorId: string): void {
  const payload = { comment: commentName(comment), author: userName(comment.authorId) };
  recordEvent(em, domainEvent('taskmesh.task.v1.CommentDeleted', CommentDeleted, payload, where(commentName(comment), comment.orgId, actorId)));
}
