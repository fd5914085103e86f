import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { outboxRetentionConfigShape, processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const taskConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  ...processedEventsRetentionConfigShape,
  TASK_PORT: env.port(50054),
  /** The identity service (host:port), for the JWKS that access tokens are verified against. */
  IDENTITY_ADDR: z.string().min(1),
  /** The org service (host:port): memberships for the org-context chain and assignee checks. */
  ORG_ADDR: z.string().min(1),
  /** The board service (host:port): CheckBoardList before every task operation. */
  BOARD_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  /** How long a membership answer from org is reused (at most 30 s, so role changes take effect quickly). */
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  /**
   * How long the board service's positive answers (board live, list live, order of lists) are reused; every
   * board event that changes one evicts it sooner (see board-directory-cache.ts). 0 turns the cache off.
   */
  BOARD_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(2_000),
  /** Most boards whose answers are kept (0 turns the cache off). */
  BOARD_CACHE_MAX_BOARDS: z.coerce.number().int().min(0).default(10_000),
  /** Budget of the encoded tasks kept by row version for board listings, in bytes (0: none; see db/board-listing.ts). */
  TASK_BYTES_CACHE_BYTES: z.coerce.number().int().min(0).default(32 * 1024 * 1024),
  /** Budget of the whole ListTasks responses kept by page digest, in bytes (0: none). */
  TASK_PAGE_CACHE_BYTES: z.coerce.number().int().min(0).default(32 * 1024 * 1024),
  /** Deadline of each call to identity, org and board. */
  UPSTREAM_TIMEOUT_MS: env.positiveInt(5_000),
});

export type TaskConfig = z.infer<typeof taskConfigSchema>;

export function loadTaskConfig(source: NodeJS.ProcessEnv = process.env): TaskConfig {
  return parseConfig(taskConfigSchema, source);
}
