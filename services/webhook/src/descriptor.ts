import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadWebhookConfig } from './config.ts';
import { webhookMigrations } from './db/migrations/index.ts';
import { WEBHOOK_SERVICE_NAME, startWebhook, type RunningWebhook } from './server.ts';

/** The webhook service as the stack builder composes it (npm start, tests, bench). */
export const webhookService: ServiceDescriptor<RunningWebhook> = {
  name: 'webhook',
  grpcService: WEBHOOK_SERVICE_NAME,
  defaultPort: 50060,
  entryPoint: 'services/webhook/src/main.ts',
  migrations: webhookMigrations,
  start: ({ env, log, bus }) => startWebhook({ config: loadWebhookConfig(env), log, bus }),
};
