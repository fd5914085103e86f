// `npm run bench`: the task hot paths through the REST edge, with every service in its own process on real
// PostgreSQL (and NATS JetStream when it is up), next to two ceilings measured in the same run. Prints
// figures; asserts nothing. Targets and latest figures: docs/benchmarks.md; what was tried: docs/benchmarks-history.md.
//
// Environment: BENCH_DURATION_S (10), BENCH_CONNECTIONS (10,50), BENCH_MAX_REQUESTS per run (1000000),
// BENCH_SCENARIOS (comma list of name prefixes, default all), BENCH_POSTGRES_URL
// (postgres://postgres@127.0.0.1:5432/postgres), BENCH_NATS_URL (nats://127.0.0.1:4222),
// BENCH_NODE_FLAGS (extra node flags for every service, e.g. --cpu-prof), BENCH_SERVICE_ENV (extra
// environment for the services, e.g. BOARD_CACHE_TTL_MS=0, as K=V,K=V), BENCH_SERVICES (names of the services to
// start, default all), BENCH_KEEP_LOGS (1 keeps the service logs).
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { createBenchData } from './bench-data.ts';
import { createBenchDatabase, createCeilingTables, databaseBackendPids } from './bench-database.ts';
import { nodeHttpCeiling, pgbenchCeiling } from './ceilings.ts';
import { startCpuWindow } from './cpu-usage.ts';
import { SCENARIOS, runScenario, type Measurement } from './scenarios.ts';
import { startStackProcesses, type StackProcesses } from './stack-processes.ts';

const root = resolve(import.meta.dirname, '../../..');
const durationS = Number(process.env.BENCH_DURATION_S ?? 10);
const connectionCounts = (process.env.BENCH_CONNECTIONS ?? '10,50').split(',').map(Number);
const maxRequests = Number(process.env.BENCH_MAX_REQUESTS ?? 1_000_000);
const only = process.env.BENCH_SCENARIOS?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
const postgresUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const serviceEnv = Object.fromEntries(
  (process.env.BENCH_SERVICE_ENV ?? '')
    .split(',')
    .filter(Boolean)
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);
const selected = (name: string) => !only || only.some((prefix) => name.toLowerCase().startsWith(prefix));

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((done) => {
    const socket = tcpConnect({ host: hostname, port: Number(port || 4222) });
    const timer = setTimeout(() => (socket.destroy(), done(false)), 2000);
    socket.once('connect', () => (clearTimeout(timer), socket.destroy(), done(true)));
    socket.once('error', () => (clearTimeout(timer), done(false)));
  });
}

async function deleteStreams(url: string, stream: string): Promise<void> {
  const nc = await natsConnect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of [stream, `${stream}_DLQ`]) await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '—');

/** CPU ms per operation of what serves it: the stack's processes and PostgreSQL's backends for the bench database. */
function stackCpuPerOperation(m: Measurement, cpu: Record<string, number>, requestsPerOperation: number): number {
  const serving = Object.entries(cpu)
    .filter(([name]) => !name.startsWith('machine') && !name.startsWith('rest') && name !== 'load generator')
    .reduce((sum, [, s]) => sum + s, 0);
  return (serving * 1000) / (m.requests / requestsPerOperation);
}

function row(m: Measurement, unit: string, cpu?: Record<string, number>, requestsPerOperation = 1): string {
  const cells = [m.name.padEnd(30), String(m.connections).padStart(5), `${fmt(m.perSecond)} ${unit}`.padStart(16)];
  cells.push(`${fmt(m.p50Ms, 1)} ms`.padStart(10), `${fmt(m.p99Ms, 1)} ms`.padStart(10), fmt(m.requests).padStart(9), fmt(m.failures).padStart(7));
  if (cpu) {
    const top = Object.entries(cpu)
      .filter(([name]) => !name.startsWith('machine'))
      .filter(([, s]) => s >= 0.5)
      .sort((a, b) => b[1] - a[1])
      .map(([name, s]) => `${name} ${fmt(s, 1)}`);
    cells.push(`${fmt(stackCpuPerOperation(m, cpu, requestsPerOperation), 2)} ms`.padStart(10));
    cells.push(`  cpu s: ${top.join(', ')}; machine ${fmt(cpu['machine busy']!, 1)}/${fmt(cpu['machine capacity']!, 1)}`);
  }
  return cells.join(' ');
}

/** Sums the bench database's PostgreSQL backends into one entry. */
function groupBackends(cpu: Record<string, number>): Record<string, number> {
  const grouped: Record<string, number> = {};
  for (const [name, s] of Object.entries(cpu)) {
    const key = name.startsWith('postgres ') ? 'postgres' : name;
    grouped[key] = (grouped[key] ?? 0) + s;
  }
  return grouped;
}

const header = `${'scenario'.padEnd(30)} ${'conns'.padStart(5)} ${'rate'.padStart(16)} ${'p50'.padStart(10)} ${'p99'.padStart(10)} ${'ok'.padStart(9)} ${'failed'.padStart(7)} ${'cpu/op'.padStart(10)}`;

const workDir = mkdtempSync(join(tmpdir(), 'taskmesh-bench-'));
const streamName = `BENCH_${Date.now().toString(36).toUpperCase()}`;
const useNats = await reachable(natsUrl);
log(`Taskmesh benchmark — ${new Date().toISOString()}`);
log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start; node ${process.version}`);
log(`runs: ${durationS} s each (at most ${maxRequests} requests), connections ${connectionCounts.join(' and ')}, 3 s warm-up before each scenario`);
log(`events: ${useNats ? `NATS JetStream at ${natsUrl} (own stream ${streamName}, deleted at the end)` : `NATS unreachable at ${natsUrl}: in-process bus per service, audit and notify not started`}`);

const database = await createBenchDatabase(postgresUrl);
log(`database: fresh ${database.name} on ${new URL(postgresUrl).host} (dropped at the end)`);
let stack: StackProcesses | undefined;
let exitCode = 0;
try {
  stack = await startStackProcesses({
    root,
    databaseUrl: database.url,
    natsUrl: useNats ? natsUrl : undefined,
    streamName,
    logDir: workDir,
    extraEnv: serviceEnv,
  });
  log(`stack: ${Object.keys(stack.pids).join(', ')} as separate processes (NODE_ENV=production, LOG_LEVEL=warn, edge access log off); edge at ${stack.edgeUrl}`);
  const started = Date.now();
  const data = await createBenchData(stack.edgeUrl);
  log(`data: 1,000 tasks on 5 lists (read board), 200 tasks on 50 lists (write board), in ${fmt((Date.now() - started) / 1000, 1)} s`);
  await createCeilingTables(database.url);

  log('');
  log(header);
  const withBackends = async (): Promise<Record<string, number>> => ({
    ...stack!.pids,
    ...Object.fromEntries((await databaseBackendPids(postgresUrl, database.name)).map((pid) => [`postgres ${pid}`, pid])),
    'load generator': process.pid,
  });
  for (const scenario of SCENARIOS.filter((s) => selected(s.name))) {
    await runScenario(scenario, data, { url: stack.edgeUrl, connections: 10, durationS: 3, maxRequests });
    for (const connections of connectionCounts) {
      const cpu = startCpuWindow(await withBackends());
      const m = await runScenario(scenario, data, { url: stack.edgeUrl, connections, durationS, maxRequests });
      log(row(m, scenario.requestsPerOperation === 2 ? 'loads/s' : 'req/s', groupBackends(cpu()), scenario.requestsPerOperation));
    }
  }
  if (selected('pgbench')) {
    for (const connections of connectionCounts) {
      // pgbench's backends connect after the window opens: PostgreSQL's share shows under "rest".
      const cpu = startCpuWindow({ 'load generator': process.pid });
      log(row(await pgbenchCeiling({ databaseUrl: database.url, connections, durationS, workDir }), 'tx/s', cpu()));
    }
  }
  if (selected('node:http')) {
    for (const connections of connectionCounts) {
      const cpu = startCpuWindow({ 'load generator': process.pid });
      log(row(await nodeHttpCeiling({ connections, durationS, maxRequests }), 'req/s', cpu()));
    }
  }
  log('');
  log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end; service logs in ${workDir}`);
} catch (err) {
  exitCode = 1;
  process.stderr.write(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
} finally {
  await stack?.stop();
  await database.drop().catch((err: unknown) => process.stderr.write(`could not drop ${database.name}: ${String(err)}\n`));
  if (useNats) await deleteStreams(natsUrl, streamName).catch(() => undefined);
  if (exitCode === 0 && !process.env.BENCH_KEEP_LOGS) rmSync(workDir, { recursive: true, force: true });
}
process.exit(exitCode);
