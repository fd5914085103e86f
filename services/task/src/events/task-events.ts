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
import { domainEvent, recordEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import type { Task, TaskComment } from '../domain/task-fields.ts';
import type { ContentChange } from '../domain/task-rules.ts';
import { listName } from '../board-directory.ts';
import { commentName, jsonValueOf, statusToProto, taskName, toCommentMessage, toTaskMessage, userName } from '../task-mapping.ts';

/**
 * The task service's domain events, written to the outbox in the same transaction as the change they describe
 * (db/task-store.ts; the list-deletion consumer's ORM transaction through recordTaskDeleted).
 */
const orgName = (orgId: string) => `organizations/${orgId}`;

function where(resource: string, orgId: string, actorId: string) {
  return { resource, organization: orgName(orgId), actor: userName(actorId) };
}

/** TaskCreated, then TaskAssigned when the task has assignees: what a create writes to the outbox. */
export function taskCreatedEvents(task: Task, actorId: string): DomainEvent[] {
  const at = where(taskName(task), task.orgId, actorId);
  const events = [domainEvent('taskmesh.task.v1.TaskCreated', TaskCreated, { task: toTaskMessage(task) }, at)];
  if (task.assignees.length > 0) events.push(taskAssignedEvent(task, task.assignees, actorId));
  return events;
}

function taskAssignedEvent(task: Task, added: string[], actorId: string): DomainEvent {
  const payload = { task: taskName(task), title: task.title, assignees: added.map(userName) };
  return domainEvent('taskmesh.task.v1.TaskAssigned', TaskAssigned, payload, where(taskName(task), task.orgId, actorId));
}

/** TaskUpdated, then TaskStatusChanged when the status changed, then TaskAssigned when assignees were added. */
export function taskUpdatedEvents(task: Task, changes: ContentChange[], addedAssignees: string[], actorId: string): DomainEvent[] {
  const at = where(taskName(task), task.orgId, actorId);
  const fieldChanges = changes.map((c) => ({
    field: c.field,
    oldValue: jsonValueOf(c.field, c.oldValue),
    newValue: jsonValueOf(c.field, c.newValue),
  }));
  const events = [domainEvent('taskmesh.task.v1.TaskUpdated', TaskUpdated, { task: toTaskMessage(task), changes: fieldChanges }, at)];
  const status = changes.find((c) => c.field === 'status');
  if (status) {
    const payload = {
      task: taskName(task),
      oldStatus: statusToProto(status.oldValue as string),
      newStatus: statusToProto(status.newValue as string),
    };
    events.push(domainEvent('taskmesh.task.v1.TaskStatusChanged', TaskStatusChanged, payload, at));
  }
  if (addedAssignees.length > 0) events.push(taskAssignedEvent(task, addedAssignees, actorId));
  return events;
}

export function taskMovedEvent(task: Task, from: { listId: string; position: string }, actorId: string): DomainEvent {
  const payload = {
    task: toTaskMessage(task),
    oldList: listName(task.orgId, task.boardId, from.listId),
    newList: listName(task.orgId, task.boardId, task.listId),
    oldPosition: from.position,
    newPosition: task.position,
  };
  return domainEvent('taskmesh.task.v1.TaskMoved', TaskMoved, payload, where(taskName(task), task.orgId, actorId));
}

export function recordTaskDeleted(
  em: EntityManager,
  task: Pick<Task, 'id' | 'orgId' | 'boardId' | 'listId' | 'title'>,
  actorId: string,
): void {
  recordEvent(em, taskDeletedEvent(task, actorId));
}

export function taskDeletedEvent(task: Pick<Task, 'id' | 'orgId' | 'boardId' | 'listId' | 'title'>, actorId: string): DomainEvent {
  const payload = { task: taskName(task), list: listName(task.orgId, task.boardId, task.listId), title: task.title };
  return domainEvent('taskmesh.task.v1.TaskDeleted', TaskDeleted, payload, where(taskName(task), task.orgId, actorId));
}

export function commentAddedEvent(comment: TaskComment, actorId: string): DomainEvent {
  const at = where(commentName(comment), comment.orgId, actorId);
  return domainEvent('taskmesh.task.v1.CommentAdded', CommentAdded, { comment: toCommentMessage(comment) }, at);
}

export function commentDeletedEvent(comment: TaskComment, actorId: string): DomainEvent {
  const payload = { comment: commentName(comment), author: userName(comment.authorId) };
  return domainEvent('taskmesh.task.v1.CommentDeleted', CommentDeleted, payload, where(commentName(comment), comment.orgId, actorId));
}
