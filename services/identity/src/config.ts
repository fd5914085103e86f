import { z } from 'zod';
import { accessTokenCacheConfigShape } from '@taskmesh/runtime/access-tokens';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { outboxRetentionConfigShape } from '@taskmesh/runtime/bookkeeping-retention';

export const identityConfigSchema = z.object({
  ...commonConfigShape,
  ...accessTokenCacheConfigShape,
  ...eventBusConfigShape,
  ...outboxRetentionConfigShape,
  IDENTITY_PORT: env.port(50051),
  /** The org service, asked before an account is erased (ListSoleOwnerships). */
  ORG_ADDR: z.string().min(1).default('127.0.0.1:50052'),
  JWT_ISSUER: z.string().default('taskmesh-identity'),
  JWT_AUDIENCE: z.string().default('taskmesh'),
  ACCESS_TOKEN_TTL_SECONDS: env.positiveInt(900),
  /** How often the current signing key is re-read (another replica may have rotated it). */
  SIGNING_KEY_RELOAD_SECONDS: env.positiveInt(60),
  REFRESH_TOKEN_TTL_DAYS: env.positiveInt(30),
  RESET_TOKEN_TTL_MINUTES: env.positiveInt(30),
  DEVICE_TOKEN_TTL_DAYS: env.positiveInt(180),
  // Abuse limits (README, Security): delays instead of lockouts, defaults a small office never meets.
  LOGIN_FREE_FAILURES_PER_PAIR: env.positiveInt(5),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: env.positiveInt(50),
  LOGIN_MAX_FAILURES_PER_ADDRESS: env.positiveInt(1000),
  LOGIN_DELAY_BASE_SECONDS: env.positiveInt(1),
  LOGIN_MAX_DELAY_SECONDS: env.positiveInt(900),
  LOGIN_ACCOUNT_MAX_DELAY_SECONDS: env.positiveInt(60),
  LOGIN_THROTTLE_WINDOW_SECONDS: env.positiveInt(3600),
  SIGNUP_MAX_PER_ADDRESS: env.positiveInt(20),
  RESET_MAX_PER_ADDRESS: env.positiveInt(30),
  RESET_MAX_PER_EMAIL: env.positiveInt(3),
  // OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
  ARGON2_MEMORY_KIB: env.positiveInt(19_456),
  ARGON2_ITERATIONS: env.positiveInt(2),
  ARGON2_PARALLELISM: env.positiveInt(1),
  /** Key-encryption key of the signing keys (base64, 32 bytes); required standalone, see key-encryption.ts. */
  TASKMESH_KEK: z.string().optional(),
  /** The KEK before a rotation, while `npm run rotate-kek` re-seals the rows. */
  TASKMESH_KEK_PREVIOUS: z.string().optional(),
  APP_BASE_URL: z.url().default('http://127.0.0.1:8080'),
  SMTP_URL: z.string().startsWith('smtp').optional(),
  /** Platform administrators by e-mail address, comma-separated; `npm run admin:grant` adds others. */
  PLATFORM_ADMIN_EMAILS: z.string().optional(),
});

export type IdentityConfig = z.infer<typeof identityConfigSchema>;

export function loadIdentityConfig(source: NodeJS.ProcessEnv = process.env): IdentityConfig {
  return parseConfig(identityConfigSchema, source);
}
