import pg from 'pg';

export interface FoundRow {
  /** schema.table */
  table: string;
  /** The row cast to text (bytea columns print as hex). */
  row: string;
}

const hexOf = (text: string) => Buffer.from(text, 'utf8').toString('hex');

/**
 * Every row of every table of every schema of a test database (as its superuser, so row-level security hides
 * nothing) whose text contains one of `needles`, case-insensitively, or, for values kept as bytes (event
 * payloads), their UTF-8 hex. How erasure and purge tests prove that nothing of a person or an org is left.
 */
export async function rowsContaining(databaseUrl: string, needles: readonly string[]): Promise<FoundRow[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const tables = await client.query<{ schema: string; name: string }>(
      `select table_schema as schema, table_name as name from information_schema.tables
        where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
        order by 1, 2`,
    );
    const patterns = needles.flatMap((needle) => [needle.toLowerCase(), hexOf(needle), hexOf(needle.toLowerCase())]);
    const condition = patterns.map((_, i) => `position($${i + 1} in lower(t::text)) > 0`).join(' or ');
    const found: FoundRow[] = [];
    for (const { schema, name } of tables.rows) {
      const table = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;
      const rows = await client.query<{ row: string }>(`select t::text as row from ${table} t where ${condition}`, patterns);
      for (const { row } of rows.rows) found.push({ table: `${schema}.${name}`, row });
    }
    return found;
  } finally {
    await client.end();
  }
}

/** One statement as the test database's superuser (RLS does not apply): for checks and for moving time. */
export async function superuserQuery<Row = Record<string, unknown>>(databaseUrl: string, text: string, values: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Row[];
  } finally {
    await client.end();
  }
}
