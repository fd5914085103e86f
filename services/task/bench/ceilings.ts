import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '@taskmesh/runtime/testing/ports';
import type { Measurement } from './scenarios.ts';

/**
 * The create-task transaction as the task service issues it (MikroORM on node-postgres, extended protocol):
 * the RLS session variable, the last position of the list, the task row, its outbox row. Ids, the position
 * key and the event payload are made by PostgreSQL here (the service makes them in Node); the list is one of
 * 50, like the REST scenario's.
 */
function createTaskScript(orgId: string, boardId: string, userId: string): string {
  const list = `('00000000-0000-4000-8000-' || lpad(:list::text, 12, '0'))::uuid`;
  return [
    '\\set list random(1, 50)',
    'BEGIN;',
    `SELECT set_config('app.org_id', '${orgId}', true);`,
    `SELECT t0.position FROM ceiling.tasks AS t0 WHERE t0.org_id = '${orgId}' AND t0.list_id = ${list} ORDER BY t0.position DESC LIMIT 1;`,
    'INSERT INTO ceiling.tasks (id, org_id, board_id, list_id, position, title, description, status, priority, assignees, labels, due_time, archived, creator_id, create_request_id, version, created_at, updated_at) ' +
      `VALUES (gen_random_uuid(), '${orgId}', '${boardId}', ${list}, md5(random()::text), 'Benchmark task', '', 'TODO', 'MEDIUM', '{}', '{}', NULL, false, '${userId}', NULL, 1, now(), now());`,
    'INSERT INTO ceiling.outbox (id, type, organization, actor, resource, occur_time, payload, published_at) ' +
      `VALUES (gen_random_uuid(), 'taskmesh.task.v1.TaskCreated', 'organizations/${orgId}', 'users/${userId}', 'organizations/${orgId}/boards/${boardId}/tasks/' || gen_random_uuid(), now(), decode(repeat('0a2430', 60), 'hex'), NULL) RETURNING seq;`,
    'END;',
    '',
  ].join('\n');
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

/** pgbench running the create-task transaction: the database's ceiling for creates on this machine. */
export async function pgbenchCeiling(options: {
  databaseUrl: string;
  connections: number;
  durationS: number;
  workDir: string;
}): Promise<Measurement> {
  const script = join(options.workDir, 'create-task.sql');
  writeFileSync(script, createTaskScript(randomUUID(), randomUUID(), randomUUID()));
  const prefix = `pgbench-c${options.connections}`;
  const args = ['-n', '-M', 'extended', '-f', script, '-c', String(options.connections), '-j', '2', '-T', String(options.durationS)];
  args.push('--log', `--log-prefix=${join(options.workDir, prefix)}`, options.databaseUrl);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d));
    child.stderr.on('data', (d: Buffer) => (text += d));
    child.once('error', reject);
    // pgbench itself stops after -T; the kill is only for a hung server.
    const guard = setTimeout(() => child.kill('SIGKILL'), (options.durationS + 60) * 1000);
    child.once('exit', (code) => {
      clearTimeout(guard);
      if (code === 0) resolve(text);
      else reject(new Error(`pgbench exited ${code}:\n${text}`));
    });
  });
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(output)?.[1] ?? NaN);
  const failed = Number(/number of failed transactions: (\d+)/.exec(output)?.[1] ?? 0);
  const latenciesUs: number[] = [];
  for (const file of readdirSync(options.workDir).filter((f) => f.startsWith(`${prefix}.`))) {
    for (const line of readFileSync(join(options.workDir, file), 'utf8').split('\n')) {
      const fields = line.split(' ');
      if (fields.length > 2) latenciesUs.push(Number(fields[2]));
    }
  }
  latenciesUs.sort((a, b) => a - b);
  return {
    name: 'pgbench: create-task SQL',
    connections: options.connections,
    perSecond: tps,
    p50Ms: percentile(latenciesUs, 50) / 1000,
    p99Ms: percentile(latenciesUs, 99) / 1000,
    requests: latenciesUs.length,
    failures: failed,
  };
}

/** Source of the bare server: one JSON body about the size of a GetTask answer, nothing else. */
const BARE_SERVER = `
import { createServer } from 'node:http';
const body = JSON.stringify({ task: { name: 'organizations/' + '0'.repeat(36) + '/boards/' + '0'.repeat(36) + '/tasks/' + '0'.repeat(36),
  list: 'organizations/' + '0'.repeat(36) + '/boards/' + '0'.repeat(36) + '/lists/' + '0'.repeat(36), position: 'a0',
  title: 'Benchmark task', description: '', status: 'TASK_STATUS_TODO', priority: 'PRIORITY_MEDIUM', assignees: [], labels: [],
  archived: false, creator: 'users/' + '0'.repeat(36), etag: 'v1', createTime: new Date().toISOString(), updateTime: new Date().toISOString() } });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(body); });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('ready\\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/** A bare node:http server in its own process, driven like the edge: the ceiling of Node's HTTP on this machine. */
export async function nodeHttpCeiling(options: { connections: number; durationS: number; maxRequests: number }): Promise<Measurement> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER], {
    env: { PORT: String(port) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`bare server exited ${code}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    await autocannon({ url, connections: options.connections, duration: 2, maxOverallRequests: options.maxRequests });
    const result = await autocannon({
      url,
      connections: options.connections,
      duration: options.durationS,
      maxOverallRequests: options.maxRequests,
    });
    return {
      name: 'node:http bare server',
      connections: options.connections,
      perSecond: result['2xx'] / result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      requests: result['2xx'],
      failures: result.non2xx + result.errors + result.timeouts,
    };
  } finally {
    child.kill('SIGTERM');
  }
}
