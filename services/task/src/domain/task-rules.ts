import { FailedPreconditionError, InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { contentKeyOf, type TaskContent, type UpdatableField } from './task-fields.ts';

export { UPDATABLE_FIELDS, contentKeyOf, type TaskContent, type UpdatableField } from './task-fields.ts';

/** The rules of a task's content and workflow (API.md "Tasks"), independent of storage and wire format. */
export const TASK_STATUSES = ['TODO', 'IN_PROGRESS', 'DONE'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'URGENT'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TITLE_MAX = 500;
export const DESCRIPTION_MAX = 20_000;
export const ASSIGNEES_MAX = 20;
export const LABELS_MAX = 20;
export const LABEL_MAX = 50;
export const COMMENT_BODY_MAX = 10_000;

const NEXT_STATUSES: Record<TaskStatus, readonly TaskStatus[]> = {
  TODO: ['IN_PROGRESS'],
  IN_PROGRESS: ['DONE', 'TODO'],
  DONE: ['IN_PROGRESS'],
};

/** Staying in the same status is not a transition; anything else must be an allowed edge. */
export function assertTransition(from: TaskStatus, to: TaskStatus): void {
  if (from === to || NEXT_STATUSES[from].includes(to)) return;
  throw new FailedPreconditionError(`a task cannot go from ${from} to ${to}`, {
    reason: 'INVALID_STATUS_TRANSITION',
    metadata: { from, to },
  });
}

/** Collects field violations so a request reports all of its problems at once. */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, description: string): void {
    this.list.push({ field, description });
  }
  /** `other`'s violations under `prefix` (e.g. `requests[3]`): one item of a batch reported in the batch. */
  addUnder(prefix: string, other: Violations): void {
    for (const violation of other.list) this.add(`${prefix}.${violation.field}`, violation.description);
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw new InvalidArgumentError(this.list);
  }
}

const length = (s: string) => [...s].length;

export function checkTitle(title: string, v: Violations, field = 'task.title'): void {
  if (title.trim().length === 0) v.add(field, 'is required');
  else if (length(title) > TITLE_MAX) v.add(field, `must be at most ${TITLE_MAX} characters`);
}

export function checkDescription(description: string, v: Violations, field = 'task.description'): void {
  if (length(description) > DESCRIPTION_MAX) v.add(field, `must be at most ${DESCRIPTION_MAX} characters`);
}

export function checkLabels(labels: string[], v: Violations, field = 'task.labels'): void {
  if (labels.length > LABELS_MAX) v.add(field, `must hold at most ${LABELS_MAX} labels`);
  if (new Set(labels).size !== labels.length) v.add(field, 'must not repeat a label');
  labels.forEach((label, i) => {
    if (label.trim().length === 0 || length(label) > LABEL_MAX) v.add(`${field}[${i}]`, `must be 1 to ${LABEL_MAX} characters`);
  });
}

/** users/{user} names → user ids; bad names are reported and left out. */
export function assigneeIdsOf(names: string[], v: Violations, field = 'task.assignees'): string[] {
  if (names.length > ASSIGNEES_MAX) v.add(field, `must hold at most ${ASSIGNEES_MAX} users`);
  if (new Set(names).size !== names.length) v.add(field, 'must not repeat a user');
  const ids: string[] = [];
  names.forEach((name, i) => {
    const match = /^users\/([^/]+)$/.exec(name);
    if (!match || !isResourceId(match[1]!)) v.add(`${field}[${i}]`, 'must be users/{user}');
    else ids.push(match[1]!);
  });
  return ids;
}

/** A task needs only a list and a title; one created without a priority gets this one. */
export const DEFAULT_PRIORITY: Priority = 'MEDIUM';

/** Everything about a new task's content that needs no other service. */
export function checkNewTask(
  draft: { listId: string | undefined; title: string; description: string; priority?: string | undefined; labels: string[] },
  v: Violations,
): void {
  if (!draft.listId) v.add('task.list', 'is required');
  checkTitle(draft.title, v);
  checkDescription(draft.description, v);
  checkLabels(draft.labels, v);
}

export function checkCommentBody(body: string, v: Violations, field = 'comment.body'): void {
  if (body.trim().length === 0) v.add(field, 'is required');
  else if (length(body) > COMMENT_BODY_MAX) v.add(field, `must be at most ${COMMENT_BODY_MAX} characters`);
}

/** Who may change a task besides OWNER and ADMIN (API.md "Roles"). */
export function isCreatorOrAssignee(task: { creatorId: string; assignees: string[] }, userId: string): boolean {
  return task.creatorId === userId || task.assignees.includes(userId);
}

/** One field a mutation changed, old → new, in domain values. */
export interface ContentChange {
  field: UpdatableField;
  oldValue: unknown;
  newValue: unknown;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;
  }
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

/** The fields among `fields` whose value differs between before and after. */
export function changesBetween(before: TaskContent, after: TaskContent, fields: readonly UpdatableField[]): ContentChange[] {
  const changes: ContentChange[] = [];
  for (const field of fields) {
    const key = contentKeyOf(field);
    if (!sameValue(before[key], after[key])) changes.push({ field, oldValue: before[key], newValue: after[key] });
  }
  return changes;
}
