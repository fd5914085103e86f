import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadNotifyConfig } from './config.ts';
import { notifyMigrations } from './db/migrations/index.ts';
import { startNotify, type NotifyDeps, type RunningNotify } from './server.ts';

/** The notify service as the stack builder composes it (npm start, tests, bench). */
export const notifyService: ServiceDescriptor<RunningNotify> = {
  name: 'notify',
  defaultPort: 50056,
  entryPoint: 'services/notify/src/main.ts',
  migrations: notifyMigrations,
  start: ({ env, log, bus, inject }) => startNotify({ config: loadNotifyConfig(env), log, bus, ...(inject as Partial<NotifyDeps>) }),
};
