import { Metadata, status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import type { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { NotFoundError, PermissionDeniedError, UnauthenticatedError, UnavailableError } from '@taskmesh/runtime/errors';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import type { TenantContext } from '@taskmesh/runtime/org-context';

/** What the attachment service needs to know of a task: that the caller sees it, and who may change it. */
export interface TaskView {
  creatorId: string;
  assigneeIds: string[];
}

export type TaskLookup = (taskName: string, context: TenantContext) => Promise<TaskView>;

const userIdOf = (name: string) => (name.startsWith('users/') ? name.slice('users/'.length) : '');

/**
 * GetTask on the task service with the caller's own token, so the task service's rules (its org-context
 * chain, deleted boards, lists and tasks) decide whether the task is there for this caller, as of now.
 * A task that is not there is NOT_FOUND under its own name, whatever the reason.
 */
export function taskLookupViaTaskService(client: TaskServiceClient, options: { timeoutMs: number }): TaskLookup {
  return async (taskName, context) => {
    const metadata = new Metadata();
    const authorization = context.call.metadata.get('authorization')[0];
    if (typeof authorization === 'string') metadata.set('authorization', authorization);
    metadata.set('x-request-id', context.call.requestId);
    try {
      const res = await callUnary(client, client.getTask, { name: taskName }, { metadata, timeoutMs: options.timeoutMs });
      return { creatorId: userIdOf(res.task?.creator ?? ''), assigneeIds: (res.task?.assignees ?? []).map(userIdOf) };
    } catch (err) {
      const code = (err as Partial<ServiceError>).code;
      if (code === GrpcCode.NOT_FOUND || code === GrpcCode.INVALID_ARGUMENT) throw new NotFoundError(taskName);
      if (code === GrpcCode.UNAUTHENTICATED) throw new UnauthenticatedError('the access token was refused');
      if (code === GrpcCode.PERMISSION_DENIED) throw new PermissionDeniedError('the task may not be read', { reason: 'ROLE_NOT_ALLOWED' });
      throw new UnavailableError('the task service did not answer');
    }
  };
}
