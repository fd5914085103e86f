import type { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { FailedPreconditionError } from '@taskmesh/runtime/errors';
import { callUnary } from '@taskmesh/runtime/grpc-client';

/** Task counts per organization from the task service (CountOrganizationTasks), for the admin's list. */
export class TaskCounts {
  constructor(
    private readonly tasks: TaskServiceClient | undefined,
    private readonly timeoutMs: number,
  ) {}

  async of(orgNames: readonly string[]): Promise<Record<string, number>> {
    if (orgNames.length === 0) return {};
    if (!this.tasks) throw new FailedPreconditionError('the task service is not configured (TASK_ADDR)', { reason: 'TASK_SERVICE_UNCONFIGURED' });
    const { taskCounts } = await callUnary(this.tasks, this.tasks.countOrganizationTasks, { organizations: [...orgNames] }, { timeoutMs: this.timeoutMs });
    return Object.fromEntries(Object.entries(taskCounts).map(([name, count]) => [name, Number(count)]));
  }
}
