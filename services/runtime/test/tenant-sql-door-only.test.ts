import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The tenancy set-up lives in the runtime only (tenancy.ts, tenant-sql.ts, database.ts): service code reaches
// tenant data through forkForOrg or withOrgConnection, never by setting role, org or search path itself, nor
// through a raw pool connection, nor by splicing values into SQL.
const root = resolve(import.meta.dirname, '../../..');
const FORBIDDEN: { what: string; pattern: RegExp }[] = [
  { what: 'getNativeClient (a raw pool)', pattern: /getNativeClient/ },
  { what: 'set_config (the org or another setting)', pattern: /set_config/i },
  { what: 'set [local] role', pattern: /set\s+(local\s+)?role\b/i },
  { what: 'set [local] search_path', pattern: /set\s+(local\s+)?search_path/i },
  { what: 'escapeLiteral (values spliced into SQL)', pattern: /escapeLiteral/ },
  { what: 'a pg pool or client of its own', pattern: /new\s+(pg\.)?(Pool|Client)\s*\(/ },
  { what: 'a pooled connection taken by hand', pattern: /\bpool\.connect\s*\(/ },
];

/** Source files of every service except the runtime (tests and bench set-up may open admin connections to check the walls). */
function serviceSources(): string[] {
  const services = join(root, 'services');
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (/\.(ts|mts|js|mjs)$/.test(entry.name) && !/\.test\.[mc]?[tj]s$/.test(entry.name)) {
        files.push(path);
      }
    }
  };
  for (const service of readdirSync(services, { withFileTypes: true })) {
    if (!service.isDirectory() || service.name === 'runtime') continue;
    try {
      walk(join(services, service.name, 'src'));
    } catch {
      // A service without src/.
    }
  }
  return files;
}

describe('the tenant SQL door is the only way in', () => {
  it('finds service sources to check', () => {
    expect(serviceSources().some((file) => file.endsWith(join('task', 'src', 'db', 'task-store.ts')))).toBe(true);
  });

  it('no service outside the runtime sets role, org or search path, takes raw connections or splices values', () => {
    const offences: string[] = [];
    for (const file of serviceSources()) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const { what, pattern } of FORBIDDEN) {
          if (pattern.test(line)) offences.push(`${relative(root, file)}:${i + 1}: ${what}`);
        }
      });
    }
    expect(offences).toEqual([]);
  });

  it('would catch each pattern', () => {
    const samples = [
      'const pool = await conn.getNativeClient();',
      "await tx.execute(`select set_config('app.org_id', ?, true)`);",
      'set local role taskmesh_app;',
      'SET search_path TO task',
      'pg.escapeLiteral(value)',
      'new pg.Pool({ connectionString })',
      'const client = await pool.connect();',
    ];
    for (const [i, sample] of samples.entries()) expect(FORBIDDEN[i]!.pattern.test(sample), sample).toBe(true);
  });
});
