import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { MigrationObject } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM, type EntityManager, type Options } from '@mikro-orm/postgresql';
import { CompiledQuery, type DatabaseConnection } from 'kysely';
import type pg from 'pg';
import type { Logger } from 'pino';
import { observeDatabasePool } from './database-metrics.ts';

/**
 * One database per service: its own PostgreSQL schema (named after the service) with its own committed
 * migrations, applied at start (never schema sync). With DATABASE_URL unset the service gets an embedded
 * PGlite of its own, served over the wire protocol by pglite-socket, with data under
 * $TASKMESH_DATA_DIR/<service> that survives restarts.
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
  /** Real PostgreSQL; when absent, an embedded PGlite is started. */
  databaseUrl?: string | undefined;
  dataDir: string;
  log: Logger;
  poolMax?: number;
}

export interface Database {
  orm: MikroORM;
  em: EntityManager;
  /** The connection URL in use (the embedded server's when embedded). */
  url: string;
  schema: string;
  close(): Promise<void>;
}

interface EmbeddedServer {
  url: string;
  stop(): Promise<void>;
}

async function startEmbedded(dir: string): Promise<EmbeddedServer> {
  mkdirSync(dir, { recursive: true });
  const db = await PGlite.create(dir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 20 });
  await server.start();
  return {
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function migrate(options: DatabaseOptions, url: string, schema: string): Promise<void> {
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
  const schema = options.service;
  const embedded = options.databaseUrl
    ? undefined
    : await startEmbedded(resolve(join(options.dataDir, options.service)));
  const url = options.databaseUrl ?? embedded!.url;
  try {
    await migrate(options, url, schema);
    let stopPoolMetrics: (() => void) | undefined;
    const orm = await MikroORM.init({
      clientUrl: url,
      schema,
      entities: options.entities,
      pool: { min: 0, max: options.poolMax ?? 10 },
      // Every pooled connection drops to the non-superuser app role, so RLS holds for everything the app runs.
      onCreateConnection: async (connection: unknown) => {
        const conn = connection as DatabaseConnection;
        await conn.executeQuery(CompiledQuery.raw(`set role ${APP_ROLE}`));
        await conn.executeQuery(CompiledQuery.raw(`set search_path to ${quoteIdent(schema)}`));
      },
      allowGlobalContext: false,
      discovery: { warnWhenNoEntities: false },
      driverOptions: { onPoolCreated: (pool: pg.Pool) => void (stopPoolMetrics = observeDatabasePool(pool, options.service)) },
    });
    options.log.info({ schema, embedded: Boolean(embedded) }, 'database ready');
    return {
      orm,
      em: orm.em,
      url,
      schema,
      async close() {
        stopPoolMetrics?.();
        await orm.close(true);
        await embedded?.stop();
      },
    };
  } catch (err) {
    await embedded?.stop();
    throw err;
  }
}
