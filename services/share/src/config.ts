import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { outboxRetentionConfigShape, processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const shareConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  ...processedEventsRetentionConfigShape,
  SHARE_PORT: env.port(50058),
  /** identity's gRPC address, for the JWKS the access tokens are verified against. */
  IDENTITY_ADDR: z.string().min(1),
  /** org's gRPC address, for GetMembership (the org-context step). */
  ORG_ADDR: z.string().min(1),
  /** task's gRPC address: GetTask as the caller, before a link is created. */
  TASK_ADDR: z.string().min(1),
  /** board's gRPC address: the board's and lists' display names for the shared view. */
  BOARD_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  UPSTREAM_TIMEOUT_MS: env.positiveInt(5_000),
  /** Public base URL of the REST API; a link's URL is this + /v1/shared/{code}. */
  SHARE_LINK_BASE_URL: z.url().default('http://127.0.0.1:8080'),
  /** Wrong passwords for one link within the window before it answers RESOURCE_EXHAUSTED. */
  SHARE_OPEN_MAX_FAILURES_PER_CODE: env.positiveInt(10),
  /** Wrong passwords from one client address (all links) within the window before it is refused. */
  SHARE_OPEN_MAX_FAILURES_PER_ADDRESS: env.positiveInt(50),
  SHARE_OPEN_THROTTLE_WINDOW_SECONDS: env.positiveInt(900),
  ARGON2_MEMORY_KIB: env.positiveInt(19_456),
  ARGON2_ITERATIONS: env.positiveInt(2),
  ARGON2_PARALLELISM: env.positiveInt(1),
});

export type ShareConfig = z.infer<typeof shareConfigSchema>;

export function loadShareConfig(source: NodeJS.ProcessEnv = process.env): ShareConfig {
  return parseConfig(shareConfigSchema, source);
}
