import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { outboxRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const boardConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  BOARD_PORT: env.port(50053),
  /** identity's gRPC address, for the JWKS the access tokens are verified against. */
  IDENTITY_ADDR: z.string().min(1),
  /** org's gRPC address, for GetMembership (the org-context step). */
  ORG_ADDR: z.string().min(1),
  /** task's gRPC address, for CountListTasks before a list is deleted without force. */
  TASK_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  /** How long a positive membership answer is reused; at most 30 s (see membership-lookup.ts). */
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  /** Deadline of each call to identity, org and task. */
  UPSTREAM_TIMEOUT_MS: env.positiveInt(5_000),
  /** Interval of WatchBoard's heartbeat (a message without an event); fractions allowed (tests). */
  WATCH_HEARTBEAT_SECONDS: z.coerce.number().positive().max(3_600).default(15),
});

export type BoardConfig = z.infer<typeof boardConfigSchema>;

export function loadBoardConfig(source: NodeJS.ProcessEnv = process.env): BoardConfig {
  return parseConfig(boardConfigSchema, source);
}
