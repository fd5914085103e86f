import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { outboxRetentionConfigShape, processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const orgConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  ...processedEventsRetentionConfigShape,
  ORG_PORT: env.port(50052),
  /** The identity service (host:port): JWKS for verifying access tokens, and BatchGetUsers for profiles. */
  IDENTITY_ADDR: z.string().min(1),
  /**
   * The task service (host:port): task counts for the platform administration's organization list. Set in
   * every deployment; a stack without the task service (tests of org alone) leaves it unset, and then the
   * admin's organization RPCs answer FAILED_PRECONDITION.
   */
  TASK_ADDR: z.string().min(1).optional(),
  /** How long identity's "is this user a platform administrator?" answer is reused. */
  PLATFORM_ADMIN_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  /** Most of those answers kept at once (0: none). */
  PLATFORM_ADMIN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).default(1_000),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  INVITATION_TTL_SECONDS: env.positiveInt(7 * 86_400),
  /** How long a deleted organization is kept before it is purged for good. */
  ORG_RETENTION_DAYS: env.positiveInt(30),
  /** How often the purge of deleted organizations past retention runs. */
  ORG_PURGE_INTERVAL_SECONDS: env.positiveInt(3_600),
  /**
   * Membership cache of the org-context chain in this service. 0 by default: here the lookup is a local query
   * on the source of truth, and a cache would only delay role changes.
   */
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(0),
  APP_BASE_URL: z.url().default('http://127.0.0.1:8080'),
  SMTP_URL: z.string().startsWith('smtp').optional(),
});

export type OrgConfig = z.infer<typeof orgConfigSchema>;

export function loadOrgConfig(source: NodeJS.ProcessEnv = process.env): OrgConfig {
  return parseConfig(orgConfigSchema, source);
}
