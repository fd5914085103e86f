import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import pg from 'pg';
import { EVERY_PORT_FREE } from '../src/stack.ts';
import { startEmbeddedProcess } from './embedded-process.ts';
import { processTree, residentMiB } from './process-tree.ts';
import { CallStats, createWorkspace, lanes, mixedRound, RestUser, watchBoard, type Workspace } from './rest-load.ts';

export interface SoakOptions {
  /** Total run time. */
  minutes: number;
  /** Load phase length between idle gaps. */
  activeMs: number;
  /** Idle gaps: each longer than every internal interval the run is configured with. */
  idleGapMs: number;
  /** One gap of this length in the middle of the run, when it fits (the access-token verifier's 10 min JWKS max age). */
  longGapMs?: number;
  /** Parallel clients in the burst phase (≥ 30). */
  burstConcurrency: number;
  burstMs: number;
  /** Environment overrides for the stack (shortened intervals in the test). */
  overrides?: Record<string, string>;
  print?: (line: string) => void;
}

export interface MemorySample {
  atSeconds: number;
  phase: string;
  /** Proportional set size of the stack's Node process. */
  nodeMiB: number;
  /** Proportional set size of the PostgreSQL processes serving the stack. */
  postgresMiB: number;
  /** Longest event-loop stall of the load driver in the phase (a starved machine answers late). */
  loopDelayMaxMs: number;
  /** PostgreSQL backends serving the stack's connections (pools close theirs after DB_POOL_IDLE_TIMEOUT_MS). */
  connections: number;
}

export interface SoakReport {
  stats: CallStats;
  memory: MemorySample[];
  watchEvents: number;
  acknowledgedCreates: number;
}

/**
 * Drives the embedded stack (`npm start` as a child process) with a mixed REST workload: sign-up, log-in,
 * refresh, organizations, boards, lists, tasks, moves, comments, audit reads and WatchBoard streams; in
 * load phases separated by idle gaps longer than the stack's internal intervals (signing-key reload,
 * verified-token and membership caches, board cache, outbox relay poll), each followed by a burst of
 * parallel clients. Clients made before a gap keep their tokens and workspaces and use them after it.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = options.overrides?.TASKMESH_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'taskmesh-soak-'));
  const stack = await startEmbeddedProcess(
    {
      ...EVERY_PORT_FREE,
      TASKMESH_DATA_DIR: dataDir,
      // Every client of the soak signs up from one address, more of them in an hour than an office would.
      SIGNUP_MAX_PER_ADDRESS: '1000000',
      ...options.overrides,
    },
    join(dataDir, 'soak-stack.log'),
  );
  const stackPid = stack.child.pid!;
  const stats = new CallStats();
  const memory: MemorySample[] = [];
  const acknowledged: string[] = [];
  let watchEvents = 0;
  const started = Date.now();
  const deadline = started + options.minutes * 60_000;
  const databaseUrl = options.overrides?.DATABASE_URL ?? process.env.DATABASE_URL;

  const loopDelay = monitorEventLoopDelay({ resolution: 50 });
  loopDelay.enable();
  const sample = async (phase: string) => {
    const children = processTree(stackPid).filter((pid) => pid !== stackPid);
    const backends = databaseUrl ? await backendPids(databaseUrl) : [];
    const entry: MemorySample = {
      atSeconds: Math.round((Date.now() - started) / 1_000),
      phase,
      nodeMiB: Math.round(residentMiB([stackPid])),
      postgresMiB: Math.round(residentMiB(new Set([...children, ...backends]))),
      loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
      connections: databaseUrl ? backends.length : children.filter(isClientBackend).length,
    };
    loopDelay.reset();
    memory.push(entry);
    print(`[${String(entry.atSeconds).padStart(5)} s] ${phase.padEnd(12)} node ${entry.nodeMiB} MiB, postgres ${entry.postgresMiB} MiB, loop stall ≤ ${entry.loopDelayMaxMs} ms, ${entry.connections} db connections | ${stats.summary()}`);
  };

  /** A new user with a workspace of their own: sign-up, log-in, refresh, org, board, lists. */
  const newClient = async (): Promise<Workspace | undefined> => {
    const user = new RestUser(stack.url, stats);
    if (!(await user.signUp()) || !(await user.logIn()) || !(await user.refresh())) return undefined;
    return createWorkspace(user);
  };

  /**
   * Clients made four at a time: each signs up and logs in, two argon2 hashes that are slow on purpose, and
   * dozens at once on two cores queue past the edge's 15 s deadline (a capacity limit, not what a soak looks for).
   */
  const newClients = async (n: number): Promise<Workspace[]> => {
    const made: Workspace[] = [];
    let next = 0;
    await lanes(4, () => next >= n, async () => {
      next += 1;
      const ws = await newClient();
      if (ws) made.push(ws);
    });
    return made;
  };

  /** Load phase: `concurrency` clients run mixed rounds while a watcher per workspace counts its events. */
  const loadPhase = async (workspaces: Workspace[], ms: number) => {
    const until = Date.now() + ms;
    const watchers = new AbortController();
    const watches = workspaces.map((ws) => watchBoard(stack.url, ws.owner.accessToken, ws.board, watchers.signal));
    await lanes(workspaces.length, () => Date.now() >= until, async (lane) => {
      const ws = workspaces[lane]!;
      await mixedRound(ws, acknowledged);
      await ws.owner.call('GET', '/v1/users/me');
    });
    // Let the last events reach the watchers before they hang up.
    await new Promise((r) => setTimeout(r, 1_500));
    watchers.abort();
    for (const watch of await Promise.all(watches)) {
      watchEvents += watch.lines;
      if (watch.end !== 'aborted' || watch.status !== 200) stats.record('WatchBoard', { status: watch.status, body: { end: watch.end }, ms: 0 }, false);
    }
  };

  try {
    await sample('start');
    const regulars = await newClients(4);
    const burst = await newClients(options.burstConcurrency);
    let longGapDone = options.longGapMs === undefined;
    let cycle = 0;
    while (Date.now() < deadline) {
      cycle += 1;
      await loadPhase(regulars, options.activeMs);
      await sample(`load ${cycle}`);
      await loadPhase(burst, options.burstMs);
      await sample(`burst ${cycle}`);
      // Tokens older than the gap are refreshed as a client would, then a fresh sign-up joins the regulars.
      for (const ws of regulars) await ws.owner.refresh();
      const joined = await newClient();
      if (joined) regulars.push(joined);
      const left = deadline - Date.now();
      if (left <= 0) break;
      const useLong = !longGapDone && left > options.longGapMs! + options.activeMs;
      const gap = Math.min(useLong ? options.longGapMs! : options.idleGapMs, left);
      if (useLong) longGapDone = true;
      await new Promise((r) => setTimeout(r, gap));
      await sample(`idle ${Math.round(gap / 1_000)} s`);
    }
    // After the last gap: every kind of call once more, with the tokens from before it.
    await loadPhase(regulars, Math.min(options.activeMs, 10_000));
    await sample('end');
    // The stack must stop on SIGTERM by itself (see the shutdown test); a SIGKILL here would be a failure.
    stack.child.kill('SIGTERM');
    const exit = await Promise.race([stack.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
    if (exit?.code !== 0) stats.record('SIGTERM', { status: 0, body: { exit: exit ?? 'still running after 20 s' }, ms: 0 }, false);
  } finally {
    loopDelay.disable();
    await stack.kill();
    // Kept when something failed: the stack's log is in it.
    if (!options.overrides?.TASKMESH_DATA_DIR && stats.failed === 0) rmSync(dataDir, { recursive: true, force: true });
    else if (stats.failed > 0) print(`the stack's log: ${join(dataDir, 'soak-stack.log')}`);
  }
  return { stats, memory, watchEvents, acknowledgedCreates: acknowledged.length };
}

/** A PostgreSQL process serving a client connection ("postgres: user database host(port) state"), not an auxiliary one. */
function isClientBackend(pid: number): boolean {
  try {
    return /^postgres: \S+ \S+ \S+\(\d+\)/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return false;
  }
}

/** Server processes of the connections to the soak's database on an external PostgreSQL (DATABASE_URL). */
async function backendPids(databaseUrl: string): Promise<number[]> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
    return rows.map((r) => r.pid);
  } catch {
    return [];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Memory growth from the first sample after warm-up to the last, for the report. */
export function memoryGrowth(memory: MemorySample[]): string {
  const first = memory.find((m) => m.phase.startsWith('burst')) ?? memory[0];
  const last = memory.at(-1);
  if (!first || !last) return 'no samples';
  return `node ${first.nodeMiB} → ${last.nodeMiB} MiB, postgres ${first.postgresMiB} → ${last.postgresMiB} MiB (from ${first.atSeconds} s to ${last.atSeconds} s)`;
}
