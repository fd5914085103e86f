import { createHash } from 'node:crypto';
import { EventType } from '@mikro-orm/core';
import type { EntityManager, PostgreSqlConnection } from '@mikro-orm/postgresql';
import pg from 'pg';
import { APP_ROLE } from './database.ts';
import { ORG_SETTING } from './tenancy.ts';

/**
 * The one door to tenant data in plain SQL, beside the ORM's forkForOrg. A transaction on a pooled connection
 * of the service's ORM that runs as the app role (no BYPASSRLS), in the service's schema, with the org set —
 * all three transaction-local — so row-level security holds exactly as in the ORM's transactions. Every value
 * is a bind parameter (`sql` tagged templates); only trusted SQL text (`sql.raw`) is ever spliced in.
 *
 * Statements are pipelined: what the body sends before awaiting goes out together with `begin` and the
 * settings, and `commit(...)` sends the last statements with the commit, so a read is one round trip and a
 * read-then-write transaction two. Statements are named prepared statements (parsed once per connection).
 *
 * On every path the connection goes back clean or not at all: a throw (or abort) rolls back and a connection
 * that cannot be rolled back is discarded. A committed transaction that sent anything but reads fires the ORM's
 * afterTransactionCommit subscribers (the outbox relay's nudge), as the ORM's own commits do.
 */

/** A piece of SQL text with its parameters; compose with `sql` (fragments nest) and `sql.join`. */
export class SqlFragment {
  constructor(
    /** Text chunks; a parameter goes between each two. */
    readonly chunks: readonly string[],
    readonly values: readonly unknown[],
  ) {}

  /** The text with $1…$n placeholders, and the values in order. */
  toQuery(): { text: string; values: unknown[] } {
    let text = this.chunks[0]!;
    for (let i = 0; i < this.values.length; i++) text += `$${i + 1}${this.chunks[i + 1]}`;
    return { text, values: [...this.values] };
  }
}

/** `sql\`select … where id = ${id}\``: every interpolated value becomes a bind parameter, fragments are inlined. */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): SqlFragment {
  const chunks: string[] = [strings[0]!];
  const params: unknown[] = [];
  values.forEach((value, i) => {
    if (value instanceof SqlFragment) {
      chunks[chunks.length - 1] += value.chunks[0]!;
      for (let j = 0; j < value.values.length; j++) {
        params.push(value.values[j]);
        chunks.push(value.chunks[j + 1]!);
      }
      chunks[chunks.length - 1] += strings[i + 1]!;
    } else {
      params.push(value);
      chunks.push(strings[i + 1]!);
    }
  });
  return new SqlFragment(chunks, params);
}

/** Trusted SQL text (column lists, constant conditions): never anything a request carries. */
sql.raw = (text: string): SqlFragment => new SqlFragment([text], []);

/** Fragments joined by `separator` (trusted text). */
sql.join = (fragments: readonly SqlFragment[], separator = ', '): SqlFragment => {
  const chunks: string[] = [''];
  const values: unknown[] = [];
  fragments.forEach((fragment, i) => {
    chunks[chunks.length - 1] += (i === 0 ? '' : separator) + fragment.chunks[0]!;
    for (let j = 0; j < fragment.values.length; j++) {
      values.push(fragment.values[j]);
      chunks.push(fragment.chunks[j + 1]!);
    }
  });
  return new SqlFragment(chunks, values);
};

/** A result: rows as objects (the driver's parsers), or with `textRows` as arrays of PostgreSQL's text output. */
export interface SqlResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface QueryOptions {
  /** Each row as an array of the columns' text output (NULL as null), in select order; nothing parsed. */
  textRows?: boolean;
}

/** A row of PostgreSQL's text output, columns in select order. */
export type TextRow = (string | null)[];

/** The transaction a withOrgConnection body runs in. */
export interface OrgSql {
  readonly orgId: string;
  /** Sends one statement (pipelined behind anything sent before); its result. */
  query<Row = Record<string, unknown>>(statement: SqlFragment, options?: QueryOptions): Promise<SqlResult<Row>>;
  /** Text rows of one select: `query(statement, { textRows: true }).rows`. */
  textRows(statement: SqlFragment): Promise<TextRow[]>;
  /** Sends `statements` and the commit together (one round trip); their results. Nothing may be sent after. */
  commit(...statements: SqlFragment[]): Promise<SqlResult<Record<string, unknown>>[]>;
  /** Moves the rest of the transaction to another org (RLS follows), for writers that batch several orgs. */
  enterOrg(orgId: string): void;
}

export interface OrgConnectionOptions {
  /** `begin read only`, and no commit hook: for reads. */
  readOnly?: boolean;
  /** Further transaction-local settings (name → value), e.g. a purge cutoff a policy reads. */
  settings?: Record<string, string>;
  /** Aborting discards the connection at once (its statements are cut off) and rejects with the reason. */
  signal?: AbortSignal;
}

const asIs = (value: string) => value;
const TEXT_AS_IS = { getTypeParser: () => asIs };
const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
const statementNames = new Map<string, string>();
/** Statements that change nothing (a row lock is no change): no commit hook for a transaction of only these. */
const READ = /^\s*(select|explain|show|values)\b/i;

/** A stable name per statement text, so each connection parses and plans it once. */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `tm_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
    if (statementNames.size >= 10_000) statementNames.clear();
    statementNames.set(text, name);
  }
  return name;
}

function configOf(statement: SqlFragment, textRows: boolean): pg.QueryConfig {
  const { text, values } = statement.toQuery();
  for (const value of values) {
    if (typeof value === 'string' && value.includes('\0')) throw new InvalidSqlValueError('a text value cannot contain NUL');
  }
  const config: Record<string, unknown> = { text, values, name: statementName(text) };
  if (textRows) Object.assign(config, { rowMode: 'array', types: TEXT_AS_IS });
  return config as unknown as pg.QueryConfig;
}

/** A value PostgreSQL cannot take (NUL in text): the request is wrong, not the database. */
export class InvalidSqlValueError extends Error {}

/** The pool behind the ORM of `em`. */
async function poolOf(em: EntityManager): Promise<pg.Pool> {
  return (await (em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
}

/**
 * Runs `body` in one transaction of `orgId` (see above). The body's result once committed; whatever it leaves
 * uncommitted is committed when it returns, rolled back when it throws.
 */
export async function withOrgConnection<T>(
  em: EntityManager,
  orgId: string,
  body: (sql: OrgSql) => Promise<T>,
  options: OrgConnectionOptions = {},
): Promise<T> {
  return withAppConnection(em, { ...options.settings, [ORG_SETTING]: orgId }, body, options);
}

/**
 * The same door with no org unless `settings` names one: for the few statements a service documents that are
 * scoped by another setting (audit's retention purge). RLS admits no tenant row without an org.
 */
export async function withAppConnection<T>(
  em: EntityManager,
  settings: Record<string, string>,
  body: (sql: OrgSql) => Promise<T>,
  options: Omit<OrgConnectionOptions, 'settings'> = {},
): Promise<T> {
  const schema = em.config.get('schema');
  if (!schema) throw new Error('withOrgConnection: the ORM has no schema');
  options.signal?.throwIfAborted();
  const client = await (await poolOf(em)).connect();
  const sent: Promise<unknown>[] = [];
  let committed = false;
  /** Whether the body sent anything but a read: only then does a commit fire the hook. */
  let wrote = false;
  /** The first statement that failed: the transaction is then rolled back by PostgreSQL, whatever follows. */
  let failure: unknown;
  let broken: Error | undefined;
  const onAbort = () => {
    // Statements in flight cannot be taken back: the connection goes, and every pending statement fails.
    broken ??= new Error('withOrgConnection: aborted');
    (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  (client as unknown as { pipeline: boolean }).pipeline = true;
  const send = <Row>(statement: SqlFragment, textRows = false): Promise<SqlResult<Row>> => {
    if (committed) return Promise.reject(new Error('withOrgConnection: the transaction is over'));
    let config: pg.QueryConfig;
    try {
      config = configOf(statement, textRows);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!wrote && !READ.test(config.text)) wrote = true;
    const result = client.query(config) as unknown as Promise<pg.QueryResult>;
    sent.push(result.catch((err: unknown) => void (failure ??= err)));
    const answer = result.then((r) => ({ rows: r.rows as Row[], rowCount: r.rowCount ?? 0 }));
    // A statement the body never awaits must not become an unhandled rejection; the commit reports it.
    answer.catch(() => undefined);
    return answer;
  };
  const settingsSql = sql.join(
    [
      sql`set_config('role', ${APP_ROLE}, true)`,
      sql`set_config('search_path', ${quoteIdent(schema)}, true)`,
      ...Object.entries(settings).map(([name, value]) => sql`set_config(${name}, ${value}, true)`),
    ],
  );
  const opening = Promise.all([
    send(options.readOnly ? sql`begin read only` : sql`begin`),
    send(sql`select ${settingsSql}`),
  ]);
  wrote = false;
  opening.catch(() => undefined);

  const tx: OrgSql = {
    orgId: settings[ORG_SETTING] ?? '',
    query: (statement, queryOptions) => send(statement, queryOptions?.textRows ?? false),
    textRows: async (statement) => (await send<TextRow>(statement, true)).rows,
    async commit(...statements) {
      const results = statements.map((s) => send<Record<string, unknown>>(s));
      const wroteBefore = wrote;
      const commit = send(sql`commit`);
      wrote = wroteBefore;
      committed = true;
      const all = await Promise.all([opening, ...results, commit]);
      // COMMIT after a failed statement answers ROLLBACK without an error: report the failure instead.
      await Promise.all(sent);
      if (failure) throw failure;
      return all.slice(1, 1 + statements.length) as SqlResult<Record<string, unknown>>[];
    },
    enterOrg(next) {
      void send(sql`select set_config(${ORG_SETTING}, ${next}, true)`).catch(() => undefined);
    },
  };

  try {
    const result = await body(tx);
    if (!committed) await tx.commit();
    await opening;
    if (broken) throw broken;
    if (wrote && !options.readOnly) await em.getEventManager().dispatchEvent(EventType.afterTransactionCommit, { em } as never);
    return result;
  } catch (err) {
    if (broken) throw options.signal?.reason ?? broken;
    throw err;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // Every statement sent must have answered before the connection is reused or rolled back.
    await Promise.all(sent);
    if (!broken && client.getTransactionStatus?.() !== 'I') {
      try {
        await client.query('rollback');
      } catch (err) {
        broken = err as Error;
      }
    }
    (client as unknown as { pipeline: boolean }).pipeline = false;
    client.release(broken);
  }
}

/** One select of `orgId`'s rows in one round trip (begin read only, settings, the select, commit). */
export async function selectInOrg<Row = Record<string, unknown>>(em: EntityManager, orgId: string, statement: SqlFragment): Promise<Row[]> {
  return withOrgConnection(em, orgId, async (tx) => (await tx.commit(statement))[0]!.rows as Row[], { readOnly: true });
}

/** The same as text rows (nothing parsed; see QueryOptions.textRows). */
export async function selectTextRowsInOrg(em: EntityManager, orgId: string, statement: SqlFragment): Promise<TextRow[]> {
  return withOrgConnection(
    em,
    orgId,
    async (tx) => {
      const rows = tx.textRows(statement);
      await tx.commit();
      return rows;
    },
    { readOnly: true },
  );
}

/**
 * A small pool of its own for a library that takes a pg pool (identity's abuse limits): every session runs as
 * the app role, with the ORM pool's timeouts. Tenant data is not reached through it.
 */
export function openAppRolePool(
  db: { url: string; timeouts: { acquireMs: number; statementMs: number; idleInTransactionMs: number; poolIdleMs: number } },
  max: number,
): pg.Pool {
  return new pg.Pool({
    connectionString: db.url,
    max,
    options: `-c role=${APP_ROLE}`,
    connectionTimeoutMillis: db.timeouts.acquireMs,
    idleTimeoutMillis: db.timeouts.poolIdleMs,
    statement_timeout: db.timeouts.statementMs,
    idle_in_transaction_session_timeout: db.timeouts.idleInTransactionMs,
  });
}
