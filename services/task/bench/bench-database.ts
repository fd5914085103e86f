import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database on the local PostgreSQL, dropped (with anything still connected) at the end. */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `taskmesh_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
    },
  };
}

/**
 * Copies of the task service's `tasks` and `outbox` tables (columns, defaults, identity, generated search
 * column, checks and every index) in a schema of their own, so pgbench writes the same rows into the same
 * structures without the task service's outbox relay publishing them.
 */
export async function createCeilingTables(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`create schema ceiling;
      create table ceiling.tasks (like task.tasks including all);
      create table ceiling.outbox (like task.outbox including all)`);
  } finally {
    await client.end();
  }
}

/** Server processes of the connections to one database, to count PostgreSQL's CPU for the stack alone. */
export async function databaseBackendPids(serverUrl: string, name: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1', [name]);
    return rows.map((r) => r.pid);
  } finally {
    await client.end();
  }
}
