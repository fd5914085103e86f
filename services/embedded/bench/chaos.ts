import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPrivateNatsServer } from '@taskmesh/runtime/testing/test-nats';
import { startStackProcesses } from '../../task/bench/stack-processes.ts';
import { startPrivatePostgres } from './private-postgres.ts';
import { CallStats, createTask, createWorkspace, lanes, RestUser, type TimedCall, type Workspace } from './rest-load.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The edge's deadline for a unary call: no request may take longer (plus a little for the edge itself). */
const EDGE_DEADLINE_MS = 15_000;
const HANG_MS = EDGE_DEADLINE_MS + 2_000;
/** A fault's calls may fail only with these: the edge's "unavailable" and "deadline exceeded". */
const FAIL_FAST_STATUSES = new Set([503, 504]);
const RECOVERY_BOUND_MS = 10_000;

export interface ChaosOptions {
  /** Where the private PostgreSQL, NATS store and service logs go. */
  dir: string;
  lanes: number;
  /** Steady load before, between and after the faults. */
  steadyMs: number;
  natsDownMs: number;
  postgresDownMs: number;
  /** The service SIGKILLed and started again. */
  victim: string;
  print?: (line: string) => void;
}

export interface FaultReport {
  fault: string;
  startedAt: number;
  endedAt: number;
  calls: number;
  failures: Record<string, number>;
  slowestMs: number;
  /** From the end of the fault to the end of the last failed call (0 when none failed after it). */
  recoveryMs: number;
  problems: string[];
}

export interface ChaosReport {
  stats: CallStats;
  faults: FaultReport[];
  acknowledged: number;
  lostWrites: number;
  auditMissing: number;
  auditDuplicated: number;
  problems: string[];
}

interface Acknowledged {
  ws: Workspace;
  task: string;
}

/**
 * The production shape under faults: a private PostgreSQL and nats-server, every service as its own process
 * (stack-processes.ts), REST load from `lanes` clients. Restarts PostgreSQL, stops NATS for natsDownMs and
 * SIGKILLs one service, each under load; then checks that no acknowledged write and no audit event was lost
 * or duplicated.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const print = options.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const cleanups: (() => Promise<void>)[] = [];
  const shutdownProblems: string[] = [];
  const cleanUp = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => print(`clean-up: ${String(err)}`));
    cleanups.length = 0;
  };
  // Ctrl+C or a kill must not leave servers behind.
  const onSignal = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    mkdirSync(join(options.dir, 'logs'), { recursive: true });
    const postgres = await startPrivatePostgres(join(options.dir, 'postgres'));
    cleanups.push(() => postgres.stop());
    const nats = await startPrivateNatsServer();
    cleanups.push(() => nats.dispose());
    const stream = `CHAOS_${randomBytes(3).toString('hex').toUpperCase()}`;
    const stack = await startStackProcesses({
      root,
      databaseUrl: postgres.url,
      natsUrl: nats.url,
      streamName: stream,
      logDir: join(options.dir, 'logs'),
      // Short enough that a process still running when stop() SIGKILLs it (after 10 s) broke its bound.
      extraEnv: { EDGE_DEADLINE_MS: String(EDGE_DEADLINE_MS), SHUTDOWN_GRACE_SECONDS: '4' },
    });
    let stopped = false;
    const stopStack = async () => {
      if (stopped) return;
      stopped = true;
      const began = Date.now();
      const forced = await stack.stop();
      print(`stack stopped by SIGTERM in ${((Date.now() - began) / 1_000).toFixed(1)} s${forced.length ? `; SIGKILL needed for ${forced.join(', ')}` : ''}`);
      if (forced.length) shutdownProblems.push(`did not exit on SIGTERM within 10 s: ${forced.join(', ')}`);
    };
    cleanups.push(stopStack);
    print(`chaos: stack up at ${stack.edgeUrl} (PostgreSQL ${new URL(postgres.url).port}, NATS ${nats.url}); logs in ${join(options.dir, 'logs')}`);

    const stats = new CallStats({ timeline: true });
    const workspaces: Workspace[] = [];
    for (let i = 0; i < options.lanes; i++) {
      const user = new RestUser(stack.edgeUrl, stats);
      const ws = (await user.signUp()) ? await createWorkspace(user) : undefined;
      if (!ws) throw new Error(`set-up failed: ${stats.samples.join('; ')}`);
      workspaces.push(ws);
    }
    const setupCalls = stats.calls;

    const acknowledged: Acknowledged[] = [];
    let stop = false;
    const load = lanes(options.lanes, () => stop, async (lane) => {
      const ws = workspaces[lane]!;
      const task = await createTask(ws, ws.owner, `chaos ${lane}`);
      if (task) {
        acknowledged.push({ ws, task });
        await ws.owner.call('GET', `/v1/${task}`);
      }
      await ws.owner.call('GET', `/v1/${ws.board}/tasks?pageSize=10`);
      await new Promise((r) => setTimeout(r, 100));
    });

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const windows: { fault: string; startedAt: number; endedAt: number }[] = [];
    const fault = async (name: string, run: () => Promise<void>) => {
      const startedAt = Date.now();
      print(`fault: ${name} …`);
      await run();
      windows.push({ fault: name, startedAt, endedAt: Date.now() });
      print(`fault: ${name} over after ${((Date.now() - startedAt) / 1_000).toFixed(1)} s`);
      await sleep(options.steadyMs);
    };
    try {
      await sleep(options.steadyMs);
      await fault('PostgreSQL restart', async () => {
        await postgres.stop();
        await sleep(options.postgresDownMs);
        await postgres.start();
      });
      await fault(`NATS down ${options.natsDownMs / 1_000} s`, async () => {
        await nats.stop();
        await sleep(options.natsDownMs);
        await nats.start();
      });
      await fault(`SIGKILL ${options.victim}`, () => stack.killAndRestart(options.victim));
    } finally {
      stop = true;
      await load;
    }

    const faults = windows.map((w) => faultReport(w, stats.timeline!.slice(setupCalls)));
    const problems = steadyProblems(stats.timeline!.slice(setupCalls), windows);

    // Consumers catch up after the faults: wait for the audit log to hold every acknowledged create.
    const reader = new CallStats();
    const lost: string[] = [];
    for (const { ws, task } of acknowledged) {
      const owner = new RestUser(stack.edgeUrl, reader);
      owner.accessToken = ws.owner.accessToken;
      if ((await owner.call('GET', `/v1/${task}`)).status !== 200) lost.push(task);
    }
    let audit = await auditCounts(stack.edgeUrl, workspaces, acknowledged);
    for (let i = 0; i < 60 && audit.missing > 0; i++) {
      await sleep(2_000);
      audit = await auditCounts(stack.edgeUrl, workspaces, acknowledged);
    }
    // Last: every service process must exit on SIGTERM by itself (standalone entry points and the edge).
    await stopStack();
    return {
      stats,
      faults,
      acknowledged: acknowledged.length,
      lostWrites: lost.length,
      auditMissing: audit.missing,
      auditDuplicated: audit.duplicated,
      problems: [...problems, ...shutdownProblems],
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
}

/** Whether a call was in flight during the fault or the recovery bound after it (calls in flight when it began count). */
function overlaps(call: TimedCall, window: { startedAt: number; endedAt: number }): boolean {
  return call.startedAt + call.ms >= window.startedAt && call.startedAt <= window.endedAt + RECOVERY_BOUND_MS;
}

/** What happened to the calls that started during a fault or in the recovery bound after it. */
function faultReport(window: { fault: string; startedAt: number; endedAt: number }, timeline: TimedCall[]): FaultReport {
  const during = timeline.filter((c) => overlaps(c, window));
  const failures: Record<string, number> = {};
  const problems: string[] = [];
  let lastFailureEnd = window.endedAt;
  for (const call of during) {
    if (call.ms > HANG_MS) problems.push(`${call.label} took ${Math.round(call.ms)} ms (deadline ${EDGE_DEADLINE_MS} ms)`);
    if (call.ok) continue;
    failures[call.status] = (failures[call.status] ?? 0) + 1;
    if (!FAIL_FAST_STATUSES.has(call.status)) problems.push(`${call.label} failed with ${call.status}, not 503/504`);
    lastFailureEnd = Math.max(lastFailureEnd, call.startedAt + call.ms);
  }
  const recoveryMs = lastFailureEnd - window.endedAt;
  if (recoveryMs > RECOVERY_BOUND_MS) problems.push(`recovered ${Math.round(recoveryMs)} ms after the fault ended`);
  return {
    fault: window.fault,
    startedAt: window.startedAt,
    endedAt: window.endedAt,
    calls: during.length,
    failures,
    slowestMs: Math.round(Math.max(0, ...during.map((c) => c.ms))),
    recoveryMs: Math.round(recoveryMs),
    problems: [...new Set(problems)].slice(0, 10),
  };
}

/** Outside the faults and their recovery bound every call must succeed. */
function steadyProblems(timeline: TimedCall[], windows: { startedAt: number; endedAt: number }[]): string[] {
  const inFault = (c: TimedCall) => windows.some((w) => overlaps(c, w));
  const failed = timeline.filter((c) => !c.ok && !inFault(c));
  return failed.slice(0, 10).map((c) => `outside any fault: ${c.label} → ${c.status}`);
}

/** TaskCreated audit entries per acknowledged task: missing ones, and tasks with more than one. */
async function auditCounts(edgeUrl: string, workspaces: Workspace[], acknowledged: Acknowledged[]): Promise<{ missing: number; duplicated: number }> {
  const seen = new Map<string, number>();
  for (const ws of workspaces) {
    let pageToken = '';
    do {
      const query = `eventType=taskmesh.task.v1.TaskCreated&pageSize=100${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`;
      const res = await ws.owner.call<{ auditEvents?: { resource: string }[]; nextPageToken?: string }>('GET', `/v1/${ws.org}/auditEvents?${query}`);
      if (res.status !== 200) break;
      for (const event of res.body.auditEvents ?? []) seen.set(event.resource, (seen.get(event.resource) ?? 0) + 1);
      pageToken = res.body.nextPageToken ?? '';
    } while (pageToken);
  }
  let missing = 0;
  for (const { task } of acknowledged) if (!seen.has(task)) missing += 1;
  let duplicated = 0;
  for (const count of seen.values()) if (count > 1) duplicated += 1;
  return { missing, duplicated };
}
