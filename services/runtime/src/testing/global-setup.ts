import { testPostgres } from './test-database.ts';

/**
 * vitest's global set-up: once per run, makes sure the tests have a PostgreSQL (the configured one, or an
 * embedded one when it does not answer) and stops the embedded one at the end.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const postgres = await testPostgres();
  return () => postgres.stop();
}
