import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadTaskConfig } from './config.ts';
import { taskMigrations } from './db/migrations/index.ts';
import { TASK_SERVICE_NAME, startTask, type TaskDeps, type RunningTask } from './server.ts';

/** The task service as the stack builder composes it (npm start, tests, bench). */
export const taskService: ServiceDescriptor<RunningTask> = {
  name: 'task',
  grpcService: TASK_SERVICE_NAME,
  defaultPort: 50054,
  entryPoint: 'services/task/src/main.ts',
  migrations: taskMigrations,
  start: ({ env, log, bus, inject }) => startTask({ config: loadTaskConfig(env), log, bus, ...(inject as Partial<TaskDeps>) }),
};
