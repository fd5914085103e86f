import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const analyticsConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...processedEventsRetentionConfigShape,
  ANALYTICS_PORT: env.port(50061),
  /** The identity service (host:port): JWKS for verifying access tokens. */
  IDENTITY_ADDR: z.string().min(1),
  /** The org service (host:port): GetMembership for the org-context chain. */
  ORG_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  /** How often the rollup job counts overdue tasks of the days that have ended. */
  ANALYTICS_ROLLUP_INTERVAL_SECONDS: env.positiveInt(300),
  /** A deleted organization's figures are purged this long after its deletion (as org keeps its rows). */
  ORG_RETENTION_DAYS: env.positiveInt(30),
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
});

export type AnalyticsConfig = z.infer<typeof analyticsConfigSchema>;

export function loadAnalyticsConfig(source: NodeJS.ProcessEnv = process.env): AnalyticsConfig {
  return parseConfig(analyticsConfigSchema, source);
}
