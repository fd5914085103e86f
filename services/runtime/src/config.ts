import { z } from 'zod';
import { DEFAULT_DATABASE_TIMEOUTS as DB } from './database-timeouts.ts';

/**
 * Parses process configuration once, from the environment only, failing fast with the variable's name.
 * Every service declares its variables as a zod object whose keys are the environment variable names.
 */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function parseConfig<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    input[key] = value === '' ? undefined : value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || '(config)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Reusable field parsers for environment values. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  optionalUrl: () => z.url().optional(),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'])
      .default(fallback ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
};

/** Settings every service shares: its database and its limits, where local files (mail) go, the bind host. */
export const commonConfigShape = {
  /** Required by every service; `npm start` sets it to an embedded PostgreSQL when unset. */
  DATABASE_URL: z.string().startsWith('postgres').optional(),
  DB_ACQUIRE_TIMEOUT_MS: env.positiveInt(DB.acquireMs),
  DB_STATEMENT_TIMEOUT_MS: env.positiveInt(DB.statementMs),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: env.positiveInt(DB.idleInTransactionMs),
  DB_HEALTH_INTERVAL_MS: env.positiveInt(DB.healthIntervalMs),
  DB_POOL_IDLE_TIMEOUT_MS: env.positiveInt(DB.poolIdleMs),
  /** Unset: each background loop's own poll interval; `npm start` on its embedded PostgreSQL sets a long one. */
  BACKGROUND_POLL_INTERVAL_MS: z.coerce.number().int().positive().optional(),
  TASKMESH_DATA_DIR: z.string().default('.data'),
  GRPC_HOST: z.string().default('127.0.0.1'),
};
