import { parseName } from '@taskmesh/runtime/resource-names';

export interface TaskRef {
  orgId: string;
  boardId: string;
  taskId: string;
}
export interface AttachmentRef extends TaskRef {
  attachmentId: string;
}

const TASK = 'organizations/{org}/boards/{board}/tasks/{task}';
const ATTACHMENT = `${TASK}/attachments/{attachment}`;

export function parseTaskName(name: string, field = 'parent'): TaskRef {
  const ids = parseName<'org' | 'board' | 'task'>(name, TASK, field);
  return { orgId: ids.org, boardId: ids.board, taskId: ids.task };
}

export function parseAttachmentName(name: string, field = 'name'): AttachmentRef {
  const ids = parseName<'org' | 'board' | 'task' | 'attachment'>(name, ATTACHMENT, field);
  return { orgId: ids.org, boardId: ids.board, taskId: ids.task, attachmentId: ids.attachment };
}

export const taskNameOf = (ref: TaskRef): string => `organizations/${ref.orgId}/boards/${ref.boardId}/tasks/${ref.taskId}`;
export const attachmentNameOf = (ref: TaskRef, attachmentId: string): string => `${taskNameOf(ref)}/attachments/${attachmentId}`;
export const userNameOf = (userId: string): string => `users/${userId}`;
