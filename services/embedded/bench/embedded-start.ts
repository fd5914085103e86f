// `npm run bench:embedded`: how long `npm start` takes to SERVING on an empty data directory and on a
// second start of the same one, and the idle resident memory of the whole embedded stack (the Node process
// plus every PostgreSQL process, from /proc), with the CPU time each start used (a figure that depends less on
// what else the machine is doing than the wall-clock one). Prints figures; asserts nothing.
// Ports: EDGE_PORT etc. from the environment (0 = any free port); the data directory is a fresh temporary one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = join(import.meta.dirname, '..', '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'taskmesh-bench-embedded-'));
const idleSeconds = Number(process.env.IDLE_SECONDS ?? 20);
/** After the idle wait, memory is sampled once a second for this long: the background loops come and go. */
const windowSeconds = Number(process.env.WINDOW_SECONDS ?? 60);
const portVariables = ['EDGE_PORT', 'IDENTITY_PORT', 'ORG_PORT', 'BOARD_PORT', 'TASK_PORT', 'AUDIT_PORT', 'NOTIFY_PORT'];

interface Started {
  child: ChildProcess;
  url: string;
  ms: number;
}

/** Starts the stack as `npm start` does (one Node process) and waits for /healthz to answer 200. */
async function start(): Promise<Started> {
  const began = performance.now();
  const env: NodeJS.ProcessEnv = { ...process.env, TASKMESH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', EDGE_ACCESS_LOG: 'off' };
  delete env.DATABASE_URL;
  for (const name of portVariables) env[name] ??= '0';
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'services/embedded/src/main.ts')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /REST API\s+(http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the stack exited (${code}) before listening`)));
  });
  for (;;) {
    const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(50);
  }
  return { child, url, ms: performance.now() - began };
}

async function stop(child: ChildProcess): Promise<number> {
  const began = performance.now();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
  return performance.now() - began;
}

function postmasterPid(): number {
  return Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** The process and its PostgreSQL children (by parent pid). */
function postgresProcesses(postmaster: number): number[] {
  const pids = [postmaster];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === postmaster) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** CPU seconds a process used, with its exited children (initdb, backends) when asked. */
function cpuSeconds(pid: number, withChildren: boolean): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // utime, stime, cutime, cstime are fields 14-17 of /proc/<pid>/stat (11-14 after the command name).
    const ticks = fields[11]! + fields[12]! + (withChildren ? fields[13]! + fields[14]! : 0);
    return ticks / 100;
  } catch {
    return 0;
  }
}

/** CPU seconds the stack has used so far: Node with initdb, and every PostgreSQL process with exited backends. */
function stackCpu(node: number): { node: number; postgres: number } {
  const postmaster = postmasterPid();
  const pg = postgresProcesses(postmaster);
  return { node: cpuSeconds(node, true), postgres: pg.reduce((sum, pid) => sum + cpuSeconds(pid, pid === postmaster), 0) };
}

/** kB of resident memory: RSS counts shared pages in every process, PSS shares them out. */
function memory(pid: number): { rss: number; pss: number } {
  const field = (text: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  try {
    return { rss: field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS'), pss: field(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss') };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

interface IdleSample {
  nodeRss: number;
  nodePss: number;
  pgProcesses: number;
  pgRss: number;
  pgPss: number;
}

function idleSample(node: number): IdleSample {
  const own = memory(node);
  const pg = postgresProcesses(postmasterPid()).map(memory);
  return {
    nodeRss: own.rss,
    nodePss: own.pss,
    pgProcesses: pg.length,
    pgRss: pg.reduce((a, m) => a + m.rss, 0),
    pgPss: pg.reduce((a, m) => a + m.pss, 0),
  };
}

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

try {
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${(await import('node:os')).cpus().length} cores)`);
  const first = await start();
  const firstCpu = stackCpu(first.child.pid!);
  console.log(`first start, empty data dir -> /healthz 200: ${sec(first.ms)}   (target <= 10 s)`);
  console.log(`  CPU used to get there: Node ${firstCpu.node.toFixed(2)} s (with initdb), PostgreSQL ${firstCpu.postgres.toFixed(2)} s`);
  await sleep(idleSeconds * 1000);
  const samples: IdleSample[] = [];
  for (let i = 0; i <= windowSeconds; i++) {
    if (i > 0) await sleep(1000);
    samples.push(idleSample(first.child.pid!));
  }
  const s0 = samples[0]!;
  console.log(`idle after ${idleSeconds} s: Node RSS ${mb(s0.nodeRss)} (PSS ${mb(s0.nodePss)}); PostgreSQL ${s0.pgProcesses} processes RSS ${mb(s0.pgRss)} (PSS ${mb(s0.pgPss)})`);
  console.log(`whole stack resident: PSS ${mb(s0.nodePss + s0.pgPss)}, RSS sum ${mb(s0.nodeRss + s0.pgRss)}   (target <= 500 MB)`);
  const spread = (pick: (s: IdleSample) => number, unit: (n: number) => string) => {
    const sorted = samples.map(pick).sort((a, b) => a - b);
    return `min ${unit(sorted[0]!)}, median ${unit(sorted[Math.floor(sorted.length / 2)]!)}, max ${unit(sorted.at(-1)!)}`;
  };
  console.log(`over the next ${windowSeconds} s (${samples.length} samples, one a second):`);
  console.log(`  PostgreSQL processes: ${spread((s) => s.pgProcesses, String)}`);
  console.log(`  whole stack PSS: ${spread((s) => s.nodePss + s.pgPss, mb)}`);
  console.log(`  whole stack RSS sum: ${spread((s) => s.nodeRss + s.pgRss, mb)}   (Node RSS ${spread((s) => s.nodeRss, mb)})`);
  console.log(`stop (SIGINT -> exit): ${sec(await stop(first.child))}`);

  const second = await start();
  const secondCpu = stackCpu(second.child.pid!);
  console.log(`later start, same data dir -> /healthz 200: ${sec(second.ms)}   (target <= 5 s)`);
  console.log(`  CPU used to get there: Node ${secondCpu.node.toFixed(2)} s, PostgreSQL ${secondCpu.postgres.toFixed(2)} s`);
  console.log(`stop (SIGINT -> exit): ${sec(await stop(second.child))}`);
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
