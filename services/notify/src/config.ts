import { z } from 'zod';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const notifyConfigSchema = z.object({
  ...commonConfigShape,
  ...eventBusConfigShape,
  ...processedEventsRetentionConfigShape,
  NOTIFY_PORT: env.port(50057),
  /** Identity's gRPC address, for recipients' addresses and names (BatchGetUsers). */
  IDENTITY_ADDR: z.string().default('127.0.0.1:50051'),
  /** smtp://user:pass@host:587 (or smtps://); unset: .eml files under $TASKMESH_DATA_DIR/mail. */
  SMTP_URL: z.string().startsWith('smtp').optional(),
  MAIL_FROM: z.string().default('Taskmesh <no-reply@taskmesh.local>'),
  /** Base URL of the web app, for links in mails. */
  APP_BASE_URL: z.url().default('http://127.0.0.1:8080'),
  /** Hour (UTC) at which the daily digest of tasks due in the next 24 hours goes out. */
  DIGEST_HOUR_UTC: z.coerce.number().int().min(0).max(23).default(7),
  /** Mail that was sent or given up this long ago is deleted (pending mail never is). */
  MAIL_RETENTION_DAYS: env.positiveInt(30),
});

export type NotifyConfig = z.infer<typeof notifyConfigSchema>;

export function loadNotifyConfig(source: NodeJS.ProcessEnv = process.env): NotifyConfig {
  return parseConfig(notifyConfigSchema, source);
}
