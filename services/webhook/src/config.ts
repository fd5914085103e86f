import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { EVENTS_MAX_AGE_DAYS } from '@taskmesh/runtime/events/stream';
import { outboxRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';
import { DEFAULT_RETRY_SCHEDULE_SECONDS, parseRetrySchedule } from './domain/retry-schedule.ts';

export const webhookConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  WEBHOOK_PORT: env.port(50060),
  /** identity's gRPC address: JWKS for access tokens, BatchGetUsers for the owners' addresses. */
  IDENTITY_ADDR: z.string().min(1),
  /** org's gRPC address, for GetMembership (the org-context step). */
  ORG_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  UPSTREAM_TIMEOUT_MS: env.positiveInt(5_000),
  /** Key-encryption key of the signing secrets (base64, 32 bytes); the embedded default keeps one in the data dir. */
  TASKMESH_KEK: z.string().optional(),
  TASKMESH_KEK_PREVIOUS: z.string().optional(),
  /** Hosts (host or host:port) a webhook may reach although they resolve to private addresses, and over http. */
  WEBHOOK_ALLOWED_HOSTS: z.string().default(''),
  /** Seconds to wait after failed attempt 1, 2, …; fractions allowed (tests). */
  WEBHOOK_RETRY_SCHEDULE: z
    .string()
    .default(DEFAULT_RETRY_SCHEDULE_SECONDS.join(','))
    .transform((value, ctx) => {
      try {
        return parseRetrySchedule(value);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /** An endpoint whose deliveries keep failing this long (seconds) is disabled and its org's owners mailed. */
  WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().positive().default(86_400),
  /** Deadline of one delivery attempt. */
  WEBHOOK_TIMEOUT_MS: env.positiveInt(10_000),
  /** How often the delivery worker looks for due deliveries (it is also woken by new ones). */
  /** Unset: BACKGROUND_POLL_INTERVAL_MS when set, else 1 s. */
  WEBHOOK_POLL_MS: z.coerce.number().int().positive().optional(),
  SMTP_URL: z.string().optional(),
  /** After a secret rotation the replaced secret signs deliveries too for this long (hours; fractions allowed, tests). */
  WEBHOOK_SECRET_ROTATION_GRACE_HOURS: z.coerce.number().positive().max(720).default(24),
  /**
   * Deliveries that succeeded or were given up this long ago are deleted with their attempts. At least a day
   * longer than the event stream keeps events, since a delivery is also what recognises a redelivered event.
   */
  WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(EVENTS_MAX_AGE_DAYS + 1, `must be at least ${EVENTS_MAX_AGE_DAYS + 1} days: the event stream keeps events ${EVENTS_MAX_AGE_DAYS} days, and a redelivered one is recognised by its delivery`)
    .default(30),
});

export type WebhookConfig = z.infer<typeof webhookConfigSchema>;

export function loadWebhookConfig(source: NodeJS.ProcessEnv = process.env): WebhookConfig {
  return parseConfig(webhookConfigSchema, source);
}
