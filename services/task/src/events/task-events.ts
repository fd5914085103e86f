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
import type { CommentRecord, TaskRecord } from '../db/entities.ts';
import type { ContentChange } from '../domain/task-rules.ts';
import { listName } from '../board-directory.ts';
import { commentName, jsonValueOf, statusToProto, taskName, toCommentMessage, toTaskMessage, userName } from '../task-messages.ts';

/**
 * The task service's domain events, written to the outbox in the same transaction as the change they describe:
 * record* through the EntityManager's unit of work, or *Event(s) for the plain-SQL writers (db/task-writes.ts),
 * which insert them with outboxInsertSql. Both encode the same payloads.
 */
const orgName = (orgId: string) => `organizations/${orgId}`;

function where(resource: string, orgId: string, actorId: string) {
  return { resource, organization: orgName(orgId), actor: userName(actorId) };
}

export function recordTaskCreated(em: EntityManager, task: TaskRecord, actorId: string): void {
  for (const event of taskCreatedEvents(task, actorId)) recordEvent(em, event);
}

/** TaskCreated, then TaskAssigned when the task has assignees: what a create writes to the outbox. */
export function taskCreatedEvents(task: TaskRecord, actorId: string): DomainEvent[] {
  const at = where(taskName(task), task.orgId, actorId);
  const events = [domainEvent('taskmesh.task.v1.TaskCreated', TaskCreated, { task: toTaskMessage(task) }, at)];
  if (task.assignees.length > 0) events.push(taskAssignedEvent(task, task.assignees, actorId));
  return events;
}

export function recordTaskAssigned(em: EntityManager, task: TaskRecord, added: string[], actorId: string): void {
  recordEvent(em, taskAssignedEvent(task, added, actorId));
}

function taskAssignedEvent(task: TaskRecord, added: string[], actorId: string): DomainEvent {
  const payload = { task: taskName(task), title: task.title, assignees: added.map(userName) };
  return domainEvent('taskmesh.task.v1.TaskAssigned', TaskAssigned, payload, where(taskName(task), task.orgId, actorId));
}

export function recordTaskUpdated(
  em: EntityManager,
  task: TaskRecord,
  changes: ContentChange[],
  addedAssignees: string[],
  actorId: string,
): void {
  for (const event of taskUpdatedEvents(task, changes, addedAssignees, actorId)) recordEvent(em, event);
}

/** TaskUpdated, then TaskStatusChanged when the status changed, then TaskAssigned when assignees were added. */
export function taskUpdatedEvents(task: TaskRecord, changes: ContentChange[], addedAssignees: string[], actorId: string): DomainEvent[] {
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

export function recordTaskMoved(
  em: EntityManager,
  task: TaskRecord,
  from: { listId: string; position: string },
  actorId: string,
): void {
  recordEvent(em, taskMovedEvent(task, from, actorId));
}

export function taskMovedEvent(task: TaskRecord, from: { listId: string; position: string }, actorId: string): DomainEvent {
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
  task: Pick<TaskRecord, 'id' | 'orgId' | 'boardId' | 'listId' | 'title'>,
  actorId: string,
): void {
  recordEvent(em, taskDeletedEvent(task, actorId));
}

export function taskDeletedEvent(task: Pick<TaskRecord, 'id' | 'orgId' | 'boardId' | 'listId' | 'title'>, actorId: string): DomainEvent {
  const payload = { task: taskName(task), list: listName(task.orgId, task.boardId, task.listId), title: task.title };
  return domainEvent('taskmesh.task.v1.TaskDeleted', TaskDeleted, payload, where(taskName(task), task.orgId, actorId));
}

export function recordCommentAdded(em: EntityManager, comment: CommentRecord, actorId: string): void {
  recordEvent(em, commentAddedEvent(comment, actorId));
}

export function commentAddedEvent(comment: CommentRecord, actorId: string): DomainEvent {
  const at = where(commentName(comment), comment.orgId, actorId);
  return domainEvent('taskmesh.task.v1.CommentAdded', CommentAdded, { comment: toCommentMessage(comment) }, at);
}

export function recordCommentDeleted(em: EntityManager, comment: CommentRecord, actorId: string): void {
  recordEvent(em, commentDeletedEvent(comment, actorId));
}

export function commentDeletedEvent(comment: CommentRecord, actorId: string): DomainEvent {
  const payload = { comment: commentName(comment), author: userName(comment.authorId) };
  return domainEvent('taskmesh.task.v1.CommentDeleted', CommentDeleted, payload, where(commentName(comment), comment.orgId, actorId));
}
