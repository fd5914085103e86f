import pg from 'pg';

/** First half of the advisory-lock key of migrations ('tmsh'); the second is the schema's hash. */
export const MIGRATION_LOCK_CLASS = 0x746d7368;

/**
 * Runs `migrate` while holding a PostgreSQL session advisory lock keyed by the schema, on a connection of its
 * own: N replicas of a service starting together apply its migrations one after another (the later ones find
 * nothing left to do), and a replica that dies mid-migration releases the lock with its connection.
 */
export async function withMigrationLock<T>(url: string, schema: string, migrate: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: `taskmesh-migrate-${schema}` });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]);
    try {
      return await migrate();
    } finally {
      await client.query('select pg_advisory_unlock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
