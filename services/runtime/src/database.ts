import type { MigrationObject } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { CompiledQuery, type DatabaseConnection } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import { ConfigError } from './config.ts';
import { DEFAULT_DATABASE_TIMEOUTS, type DatabaseTimeouts } from './database-timeouts.ts';
import { withMigrationLock } from './migration-lock.ts';
import { observeDatabasePool } from './database-metrics.ts';

/**
 * One database per service: its own PostgreSQL schema (named after the service) with its own committed
 * migrations, applied at start (never schema sync). The service only ever connects to DATABASE_URL: `npm start`
 * provides one (embedded-postgres.ts) when it is unset; a service started on its own requires it.
 *
 * The ORM the service uses connects as, or switches to, APP_ROLE: a non-superuser without BYPASSRLS, so
 * row-level security applies to every query the application makes. Migrations run as the connecting
 * (owner) user before that.
 */
export const APP_ROLE = 'taskmesh_app';

export interface DatabaseOptions {
  service: string;
  entities: NonNullable<Options['entities']>;
  migrations: MigrationObject[];
  /** Required; undefined fails with a message naming DATABASE_URL. */
  databaseUrl: string | undefined;
  log: Logger;
  /** Pool acquire, statement and idle-in-transaction limits (databaseTimeouts(config)). */
  timeouts?: DatabaseTimeouts;
  poolMax?: number;
}

export interface Database {
  orm: MikroORM;
  em: EntityManager;
  /** The connection URL in use. */
  url: string;
  timeouts: DatabaseTimeouts;
  schema: string;
  close(): Promise<void>;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function migrate(options: DatabaseOptions, url: string, schema: string): Promise<void> {
  // Replicas starting together migrate one at a time (advisory lock; docs/operations.md).
  await withMigrationLock(url, schema, () => applyMigrations(options, url, schema));
}

async function applyMigrations(options: DatabaseOptions, url: string, schema: string): Promise<void> {
  const orm = await MikroORM.init({
    clientUrl: url,
    schema,
    entities: options.entities,
    extensions: [Migrator],
    pool: { min: 0, max: 1 },
    migrations: { migrationsList: options.migrations, schema, snapshot: false, silent: true, transactional: true },
    discovery: { warnWhenNoEntities: false },
  });
  try {
    const conn = orm.em.getConnection();
    await conn.execute(`create schema if not exists ${quoteIdent(schema)}`);
    // Roles are cluster-wide; concurrent starts may race to create it.
    await conn.execute(`do $$ begin
      if not exists (select 1 from pg_roles where rolname = '${APP_ROLE}') then
        create role ${APP_ROLE} nologin nosuperuser nobypassrls;
      end if;
    exception when duplicate_object or unique_violation then null;
    end $$`);
    await orm.migrator.up();
    await conn.execute(`grant usage on schema ${quoteIdent(schema)} to ${APP_ROLE};
      grant select, insert, update, delete on all tables in schema ${quoteIdent(schema)} to ${APP_ROLE};
      grant usage, select on all sequences in schema ${quoteIdent(schema)} to ${APP_ROLE}`);
    // The app role must be assumable by the connecting user (a no-op for superusers).
    await conn.execute(`do $$ begin execute format('grant ${APP_ROLE} to %I', current_user);
    exception when others then null; end $$`);
  } finally {
    await orm.close(true);
  }
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const url = options.databaseUrl;
  if (!url) {
    throw new ConfigError('invalid configuration: DATABASE_URL: required (postgres://...); `npm start` starts an embedded PostgreSQL when it is unset');
  }
  const schema = options.service;
  const timeouts = options.timeouts ?? DEFAULT_DATABASE_TIMEOUTS;
  await migrate(options, url, schema);
  let stopPoolMetrics: (() => void) | undefined;
  const orm = await MikroORM.init({
    clientUrl: url,
    schema,
    entities: options.entities,
    // No connection is kept for its own sake: an idle service holds no PostgreSQL backend after poolIdleMs.
    pool: { min: 0, max: options.poolMax ?? 10, idleTimeoutMillis: timeouts.poolIdleMs },
    // pg's connectionTimeoutMillis also bounds the wait for a free pooled connection; the two session limits
    // are startup parameters, so they hold for the app role after `set role` and survive `reset all`.
    driverOptions: {
      connectionTimeoutMillis: timeouts.acquireMs,
      statement_timeout: timeouts.statementMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
      onPoolCreated: (pool: pg.Pool) => void (stopPoolMetrics = observeDatabasePool(pool, options.service)),
    },
    // Every pooled connection drops to the non-superuser app role, so RLS holds for everything the app runs.
    onCreateConnection: async (connection: unknown) => {
      const conn = connection as DatabaseConnection;
      await conn.executeQuery(CompiledQuery.raw(`set role ${APP_ROLE}`));
      await conn.executeQuery(CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`));
    },
    allowGlobalContext: false,
    discovery: { warnWhenNoEntities: false },
  });
  options.log.info({ schema }, 'database ready');
  return {
    orm,
    em: orm.em,
    url,
    schema,
    timeouts,
    async close() {
      stopPoolMetrics?.();
      await orm.close(true);
    },
  };
}
