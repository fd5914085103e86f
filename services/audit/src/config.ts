import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';

export const auditConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  AUDIT_PORT: env.port(50055),
  /** The identity service (host:port): JWKS for verifying access tokens. */
  IDENTITY_ADDR: z.string().min(1),
  /** The org service (host:port): GetMembership for the org-context chain. */
  ORG_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  /** How long audit events are kept; older ones are purged. */
  AUDIT_RETENTION_DAYS: env.positiveInt(365),
  /** How often the purge of audit events past retention runs. */
  AUDIT_PURGE_INTERVAL_SECONDS: env.positiveInt(3_600),
  /**
   * Membership cache of the org-context chain. Membership events evict from it at once; the TTL bounds how
   * long a missed eviction (NATS unreachable) can keep a demoted admin reading the log.
   */
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
});

export type AuditConfig = z.infer<typeof auditConfigSchema>;

export function loadAuditConfig(source: NodeJS.ProcessEnv = process.env): AuditConfig {
  return parseConfig(auditConfigSchema, source);
}
