/**
 * CPU per task write in isolation: the task use cases (Tasks) on a fresh database of real PostgreSQL, with the
 * board directory and memberships of the test fixture, no gRPC, no edge, no events relay. Prints, per create and
 * per move (to the end of a random list of LISTS), the CPU of this process and of the PostgreSQL backends of the
 * pool, and how many writes lost a key race and were retried. Complements `npm run bench`, whose per-process
 * figures move with whatever else the machine runs.
 *
 *   npx tsx services/task/bench/write-cost.ts        (N=3000 CONC=20 LISTS=50; TEST_DATABASE_URL as for tests)
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { startTaskFixture } from '../test/task-fixture.ts';

const N = Number(process.env.N ?? 3000);
const CONC = Number(process.env.CONC ?? 20);
const LISTS = Number(process.env.LISTS ?? 50);

const f = await startTaskFixture();
const o = f.newOrg();
const lists = Array.from({ length: LISTS }, () => randomUUID());
f.boards.get(o.orgId)!.set(o.boardId, new Set(lists));
let retries = 0;
// Count the "order key taken concurrently; retrying" lines instead of logging them.
(f.tasks as unknown as { log: Partial<Logger> }).log = { debug: () => void retries++, info() {}, warn() {}, error() {} } as Partial<Logger>;
const scope = () => f.scope(o.orgId, o.userId);
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const ids: string[] = [];

async function run(count: number, op: () => Promise<void>): Promise<void> {
  let left = count;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (left-- > 0) await op();
  }));
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(name: string, op: () => Promise<void>): Promise<void> {
  await run(200, op); // warm-up: JIT, and every pooled connection open
  const rows = await f.db.em.fork().getConnection().execute<{ pid: number }[]>(
    // The pool's backends (the app role sees their pids, not their backend_type).
    `select pid from pg_stat_activity where datname = current_database()`,
  );
  const pids = rows.map((r) => r.pid);
  const pgBefore = pids.map(cpuSeconds);
  const before = process.cpuUsage();
  retries = 0;
  const started = performance.now();
  await run(N, op);
  const ms = performance.now() - started;
  const node = process.cpuUsage(before);
  const pg = pids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - pgBefore[i]!, 0);
  console.log(
    `${name}: ${N} in ${(ms / 1000).toFixed(1)} s (${Math.round((N / ms) * 1000)}/s, ${CONC} at a time); ` +
      `task side ${((node.user + node.system) / 1000 / N).toFixed(3)} ms/op; PostgreSQL ${((pg * 1000) / N).toFixed(3)} ms/op ` +
      `(${pids.length} backends); ${retries} key races retried`,
  );
}

try {
  const draft = (listId: string) => ({
    listId,
    title: 'Benchmark task',
    description: '',
    priority: 'MEDIUM' as const,
    assignees: [],
    labels: ['bench'],
    dueTime: null,
  });
  await measure('create', async () => void ids.push((await f.tasks.create(scope(), o.boardId, draft(pick(lists)), '')).id));
  await measure('move', async () => void (await f.tasks.move(scope(), o.boardId, pick(ids), { listId: pick(lists) }, '')));
} finally {
  await f.close();
}
