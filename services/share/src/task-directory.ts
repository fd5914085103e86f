import { Metadata } from '@grpc/grpc-js';
import type { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import type { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import type { CallContext } from '@taskmesh/runtime/grpc-server';
import type { TaskView } from './db/shared-views.ts';

/** A task as its creator sees it, with the names of its board and of every list on that board. */
export interface TaskSnapshot {
  task: TaskView;
  boardDisplayName: string;
  lists: { id: string; displayName: string }[];
}

/** Reads a task through the task and board services as the caller; they run their own org-context step. */
export type TaskDirectory = (taskName: string, call: CallContext) => Promise<TaskSnapshot>;

const lastId = (name: string) => name.slice(name.lastIndexOf('/') + 1);

/**
 * The task through GetTask, the board's name through GetBoard and its lists through ListLists, each with the
 * caller's token, so a link is only made for a task the caller can read (their errors pass through: NOT_FOUND
 * for a task that is not there or not theirs). Called before any transaction is opened.
 */
export function taskDirectoryViaServices(tasks: TaskServiceClient, boards: BoardServiceClient, timeoutMs: number): TaskDirectory {
  return async (taskName, call) => {
    const metadata = new Metadata();
    const authorization = call.metadata.get('authorization')[0];
    if (typeof authorization === 'string') metadata.set('authorization', authorization);
    metadata.set('x-request-id', call.requestId);
    const options = { metadata, timeoutMs };
    const { task } = await callUnary(tasks, tasks.getTask, { name: taskName }, options);
    if (!task) throw new Error('GetTask answered without a task');
    const boardName = taskName.slice(0, taskName.indexOf('/tasks/'));
    const { board } = await callUnary(boards, boards.getBoard, { name: boardName }, options);
    const lists: TaskSnapshot['lists'] = [];
    let pageToken = '';
    do {
      const page = await callUnary(boards, boards.listLists, { parent: boardName, pageSize: 500, pageToken }, options);
      for (const list of page.lists) lists.push({ id: lastId(list.name), displayName: list.displayName });
      pageToken = page.nextPageToken;
    } while (pageToken);
    return {
      task: {
        taskId: lastId(task.name),
        listId: lastId(task.list),
        title: task.title,
        description: task.description,
        status: task.status,
        priority: task.priority,
        dueTime: task.dueTime ?? null,
        labels: task.labels,
        updatedAt: task.updateTime ?? new Date(0),
      },
      boardDisplayName: board?.displayName ?? '',
      lists,
    };
  };
}
