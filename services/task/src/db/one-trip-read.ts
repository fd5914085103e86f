import type { EntityManager, PostgreSqlConnection } from '@mikro-orm/postgresql';
import pg from 'pg';
import { APP_ROLE } from '@taskmesh/runtime/database';
import { ORG_SETTING } from '@taskmesh/runtime/tenancy';

/**
 * One select of one org's rows in a single round trip to PostgreSQL, for hot read-only paths (GetTask).
 *
 * Going through the ORM, an RLS read is four round trips: `begin`, `set_config` of the org, the select,
 * `commit` (MikroORM's session-context wrap). Here the same statements go out as ONE simple-protocol Query
 * message:
 *
 *   set local role taskmesh_app; set local search_path to "<schema>";
 *   select set_config('app.org_id', '<org>', true); <select>
 *
 * PostgreSQL runs the statements of one Query message in order, as one implicit transaction (protocol docs,
 * "Multiple Statements in a Simple Query"), so the select runs as the app role (no BYPASSRLS) with the org
 * set: RLS holds exactly as in the ORM's transaction. All three settings are transaction-local, so nothing
 * outlives the message on the pooled connection, and an error anywhere aborts the whole message. The role is
 * set here rather than trusted from the pool's connect hook because a connection taken straight from the
 * `pg` pool may not have been through that hook yet.
 *
 * The simple protocol takes no parameters, so values are written as literals with node-postgres's
 * escapeLiteral; `?` in `sql` stands for the next value. The org filter stays in the query text too (the
 * ORM-side wall), as the callers' queries name `org_id` themselves.
 */
export async function selectInOrg<Row>(em: EntityManager, orgId: string, sql: string, values: readonly SqlValue[]): Promise<Row[]> {
  return (await queryInOrg(em, orgId, sql, values, undefined)) as Row[];
}

/**
 * The same one round trip, with each row as an array of PostgreSQL's text output (NULL as null), in the
 * select's column order: nothing parsed, for readers that turn the text into bytes themselves (task-wire.ts).
 * The parsers are this query's own; the pool's (and the ORM's) are untouched.
 */
export async function selectTextRowsInOrg(em: EntityManager, orgId: string, sql: string, values: readonly SqlValue[]): Promise<TextRow[]> {
  return (await queryInOrg(em, orgId, sql, values, 'array')) as TextRow[];
}

/** A row as PostgreSQL's text output of each column, in order. */
export type TextRow = (string | null)[];

/** A value written into the query as a literal; an array becomes `array[…]` of literals (cast it in the SQL). */
export type SqlValue = string | number | readonly string[];

const asIs = (value: string) => value;
const TEXT_AS_IS = { getTypeParser: () => asIs };

async function queryInOrg(
  em: EntityManager,
  orgId: string,
  sql: string,
  values: readonly SqlValue[],
  rowMode: 'array' | undefined,
): Promise<unknown[]> {
  const connection = em.getConnection() as PostgreSqlConnection;
  const pool = (await connection.getNativeClient()) as pg.Pool;
  const schema = em.config.get('schema');
  if (!schema) throw new Error('selectInOrg: the ORM has no schema');
  const text =
    `set local role ${pg.escapeIdentifier(APP_ROLE)}; set local search_path to ${pg.escapeIdentifier(schema)}; ` +
    `select set_config(${pg.escapeLiteral(ORG_SETTING)}, ${pg.escapeLiteral(orgId)}, true); ${sqlWithLiterals(sql, values)}`;
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const results = (await client.query(
      rowMode ? ({ text, rowMode, types: TEXT_AS_IS } as pg.QueryConfig) : text,
    )) as unknown as pg.QueryResult[];
    if (!Array.isArray(results) || results.length !== 4) throw new Error('selectInOrg: expected four results');
    return results[3]!.rows;
  } catch (error) {
    // Do not hand a connection back whose state this function cannot vouch for.
    broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * One call of a read function of the service's schema that enters the org itself (read_task_in_org, task
 * migration 0003: app role and org set transaction-locally, then a select naming the org), as a NAMED prepared
 * statement on a pooled connection: one round trip, parsed and planned once per connection, where the message
 * above is parsed and planned on every call. Outside any transaction the statement is its own transaction, so
 * the role and org it sets end with it. Rows as PostgreSQL's text output, as selectTextRowsInOrg gives them.
 */
export async function callOrgReadFunction(em: EntityManager, fn: string, values: readonly string[]): Promise<TextRow[]> {
  const pool = (await (em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
  const schema = em.config.get('schema');
  if (!schema) throw new Error('callOrgReadFunction: the ORM has no schema');
  const params = values.map((_, i) => `$${i + 1}`).join(', ');
  const query = {
    name: `taskmesh:${schema}.${fn}/${values.length}`,
    text: `select * from ${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(fn)}(${params})`,
    values: [...values],
    rowMode: 'array',
    types: TEXT_AS_IS,
  } as pg.QueryConfig;
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    return (await client.query(query)).rows as TextRow[];
  } catch (error) {
    // As above: a connection whose state cannot be vouched for is not handed back.
    broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}

/** `sql` with each `?` replaced by the next value as a literal (escapeLiteral; numbers must be finite). */
export function sqlWithLiterals(sql: string, values: readonly SqlValue[]): string {
  let next = 0;
  const text = sql.replace(/\?/g, () => {
    if (next >= values.length) throw new Error('selectInOrg: more placeholders than values');
    const value = values[next++]!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new Error('selectInOrg: not a finite number');
      return String(value);
    }
    if (typeof value === 'string') return pg.escapeLiteral(value);
    return `array[${value.map((v) => pg.escapeLiteral(v)).join(', ')}]`;
  });
  if (next !== values.length) throw new Error('selectInOrg: more values than placeholders');
  return text;
}
