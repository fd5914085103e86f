import { z } from 'zod';
import { callerCacheConfigShape } from '@taskmesh/runtime/caller-caches';
import { commonConfigShape, ConfigError, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { UPLOAD_URL_TTL_SECONDS } from './domain/attachment-rules.ts';
import { outboxRetentionConfigShape, processedEventsRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const attachmentConfigSchema = z.object({
  ...commonConfigShape,
  ...callerCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  ...processedEventsRetentionConfigShape,
  ATTACHMENT_PORT: env.port(50059),
  /** identity's gRPC address, for the JWKS the access tokens are verified against. */
  IDENTITY_ADDR: z.string().min(1),
  /** org's gRPC address, for GetMembership (the org-context step). */
  ORG_ADDR: z.string().min(1),
  /** task's gRPC address: GetTask, as the caller, before every attachment call. */
  TASK_ADDR: z.string().min(1),
  /** board's gRPC address: ExportOrganizationData (boards and lists of an export). */
  BOARD_ADDR: z.string().min(1),
  /** audit's gRPC address: ExportOrganizationData (the audit log of an export). */
  AUDIT_ADDR: z.string().min(1),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  MEMBERSHIP_CACHE_TTL_MS: z.coerce.number().int().min(0).max(30_000).default(5_000),
  UPSTREAM_TIMEOUT_MS: env.positiveInt(5_000),
  /** S3 API endpoint (MinIO, any S3-compatible store); unset → the embedded server under $TASKMESH_DATA_DIR/blobs. */
  S3_ENDPOINT: env.optionalUrl(),
  /** Endpoint the presigned URLs name, when clients reach the store by another address; default S3_ENDPOINT. */
  S3_PUBLIC_ENDPOINT: env.optionalUrl(),
  S3_BUCKET: z.string().min(3).default('taskmesh-attachments'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Path-style URLs (endpoint/bucket/key), as MinIO and the embedded server need; virtual-hosted otherwise. */
  S3_FORCE_PATH_STYLE: env.bool(false),
  /** Port of the embedded S3 server (only without S3_ENDPOINT); 0 = any free port. */
  S3_EMBEDDED_PORT: env.port(0),
  /** Host the embedded S3 server binds and names in its URLs. */
  S3_EMBEDDED_HOST: z.string().default('127.0.0.1'),
  ATTACHMENT_MAX_BYTES: env.positiveInt(25 * 1024 * 1024),
  ATTACHMENT_MAX_PER_TASK: env.positiveInt(100),
  /** Pending attachments older than this are reaped with their objects; must exceed the upload URL's validity. */
  ATTACHMENT_PENDING_TTL_HOURS: z.coerce.number().positive().default(24),
  ATTACHMENT_REAP_INTERVAL_SECONDS: env.positiveInt(600),
  /** Same meaning and default as the org service's: objects of a deleted org are removed after it. */
  ORG_RETENTION_DAYS: env.positiveInt(30),
  ORG_PURGE_INTERVAL_SECONDS: env.positiveInt(3_600),
  /** How long an export archive stays in object storage (its download URLs work until then). */
  EXPORT_ARCHIVE_RETENTION_HOURS: env.positiveInt(24),
  /** Longest one owning service's ExportOrganizationData stream may take. */
  EXPORT_STREAM_TIMEOUT_SECONDS: env.positiveInt(1_800),
});

export type AttachmentConfig = z.infer<typeof attachmentConfigSchema>;

export function loadAttachmentConfig(source: NodeJS.ProcessEnv = process.env): AttachmentConfig {
  const config = parseConfig(attachmentConfigSchema, source);
  if (config.S3_ENDPOINT && (!config.S3_ACCESS_KEY_ID || !config.S3_SECRET_ACCESS_KEY)) {
    throw new ConfigError('invalid configuration: S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: required with S3_ENDPOINT');
  }
  // A reaped attachment's upload URL must have expired, or a late upload would leave an object without a row.
  if (config.ATTACHMENT_PENDING_TTL_HOURS * 3600 <= UPLOAD_URL_TTL_SECONDS) {
    throw new ConfigError(
      `invalid configuration: ATTACHMENT_PENDING_TTL_HOURS: must exceed the upload URL's validity of ${UPLOAD_URL_TTL_SECONDS / 60} minutes (${UPLOAD_URL_TTL_SECONDS / 3600} hours), got ${config.ATTACHMENT_PENDING_TTL_HOURS}`,
    );
  }
  return config;
}
