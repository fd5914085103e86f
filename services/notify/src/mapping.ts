import { TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { PermanentEventError } from '@taskmesh/runtime/events/event-bus';
import type { TaskState } from './db/task-digest.ts';
import type { TaskProgress } from './domain/mails.ts';

// The notify service's one mapping: what it reads from other services' event messages, as its own records.

const progress: Partial<Record<TaskStatus, TaskProgress>> = {
  [TaskStatus.TASK_STATUS_TODO]: 'todo',
  [TaskStatus.TASK_STATUS_IN_PROGRESS]: 'in_progress',
  [TaskStatus.TASK_STATUS_DONE]: 'done',
};

/** organizations/{org}/... → organizations/{org} */
export function organizationOf(resource: string): string {
  return resource.split('/').slice(0, 2).join('/');
}

/** The task of a task event as the digest keeps it; an event without a task can never be handled. */
export function taskState(task: Task | undefined, event: ReceivedEvent): TaskState {
  if (!task?.name) throw new PermanentEventError(`${event.type} ${event.id} carries no task`);
  return {
    name: task.name,
    organization: organizationOf(task.name),
    title: task.title,
    status: progress[task.status] ?? 'todo',
    assignees: task.assignees,
    dueTime: task.dueTime ?? null,
    archived: task.archived,
    updateTime: task.updateTime ?? event.occurTime,
  };
}
