import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { addressVariable, portVariable, type ServiceDescriptor } from '@taskmesh/runtime/stack';
import { freePort } from '@taskmesh/runtime/testing/ports';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';

/** One service of the stack running as its own process (its standalone entry point), as in production. */
interface ServiceProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
}

export interface StackProcesses {
  edgeUrl: string;
  /** pid per service, for profiling and CPU accounting. */
  pids: Record<string, number>;
  /** SIGKILLs one service and starts it again on the same port; resolves once it accepts connections. */
  killAndRestart(service: string): Promise<void>;
  /** SIGTERMs every process (edge first); resolves with the names of those that had to be SIGKILLed after 10 s. */
  stop(): Promise<string[]>;
}


function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, ready: () => Promise<boolean>, alive: () => string | undefined, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = alive();
    if (dead) throw new Error(`${dead} exited while waiting for ${what}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts every service of the system (embedded/src/services.ts), each from its entry point in its own Node
 * process (telemetry hook included, as deployed), then the REST edge. Without NATS, the event consumers audit
 * and notify cannot run apart from the others (an in-process bus does not cross processes) and are left out.
 */
export async function startStackProcesses(options: {
  root: string;
  databaseUrl: string;
  natsUrl: string | undefined;
  streamName: string;
  logDir: string;
  extraEnv?: Record<string, string>;
}): Promise<StackProcesses> {
  // BENCH_SERVICES (comma-separated names) narrows the stack, e.g. to compare with a build that had fewer services.
  const only = process.env.BENCH_SERVICES?.split(',').map((s) => s.trim()).filter(Boolean);
  const descriptors: readonly ServiceDescriptor[] = ALL_SERVICES.filter(
    (s) => (!only || only.includes(s.name)) && (options.natsUrl || (s.name !== 'audit' && s.name !== 'notify')),
  );
  const services = descriptors.map((s) => s.name);
  const ports: Record<string, number> = {};
  for (const service of [...services, 'edge']) ports[service] = await freePort();
  // Each process serves its metrics as in a deployment, on a port of its own (the default 9464 would collide).
  const metricsPorts: Record<string, number> = {};
  for (const service of [...services, 'edge']) metricsPorts[service] = await freePort();
  const address = (service: string) => `127.0.0.1:${ports[service] ?? 1}`;
  const entryPoints = new Map<string, string>([...descriptors.map((s) => [s.name, s.entryPoint] as const), [edgeFront.name, edgeFront.entryPoint]]);
  const common: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: options.databaseUrl,
    TASKMESH_DATA_DIR: join(options.logDir, 'data'),
    GRPC_HOST: '127.0.0.1',
    // Identity standalone needs its key-encryption key; a fresh one per run (the database is fresh too).
    TASKMESH_KEK: randomBytes(32).toString('base64'),
    // The address of every service that runs (the edge routes to exactly these).
    ...Object.fromEntries(descriptors.map((s) => [addressVariable(s.name), address(s.name)])),
    // A stream of its own, so the benchmark neither reads nor floods anyone else's events on the shared NATS.
    ...(options.natsUrl
      ? {
          NATS_URL: options.natsUrl,
          EVENTS_STREAM: options.streamName,
          EVENTS_SUBJECT_PREFIX: options.streamName.toLowerCase(),
          EVENTS_STREAM_MAX_BYTES: String(256 * 1024 ** 2),
        }
      : {}),
    // The benchmark signs in many times from one address.
    LOGIN_MAX_FAILURES_PER_ADDRESS: '1000000',
    SIGNUP_MAX_PER_ADDRESS: '1000000',
    ...options.extraEnv,
  };
  const running: ServiceProcess[] = [];
  const envOf = new Map<string, Record<string, string>>();
  const launch = (name: string, entry: string, env: Record<string, string>) => {
    envOf.set(name, env);
    const logFile = join(options.logDir, `${name}.log`);
    const out = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', entry], {
      cwd: options.root,
      env: { ...common, METRICS_HOST: '127.0.0.1', METRICS_PORT: String(metricsPorts[name] ?? 0), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    running.push({ name, child, logFile });
  };
  const exited = () => {
    const gone = running.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (!gone) return undefined;
    return `${gone.name} (see ${gone.logFile}:\n${readFileSync(gone.logFile, 'utf8').slice(-2000)})`;
  };
  const stop = async () => {
    const forced: string[] = [];
    // Edge first (stop taking requests), then the services; each drains on SIGTERM.
    for (const group of [running.filter((p) => p.name === 'edge'), running.filter((p) => p.name !== 'edge')]) {
      await Promise.all(
        group.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
              const kill = setTimeout(() => {
                forced.push(p.name);
                p.child.kill('SIGKILL');
              }, 10_000);
              p.child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
              p.child.kill('SIGTERM');
            }),
        ),
      );
    }
    return forced;
  };
  try {
    for (const service of services) {
      launch(service, entryPoints.get(service)!, { [portVariable(service)]: String(ports[service]) });
    }
    for (const service of services) {
      await waitFor(`${service} on ${address(service)}`, () => portOpen(ports[service]!), exited, 120_000);
    }
    launch('edge', edgeFront.entryPoint, {
      EDGE_HOST: '127.0.0.1',
      EDGE_PORT: String(ports.edge),
      EDGE_ACCESS_LOG: 'off',
    });
    const edgeUrl = `http://127.0.0.1:${ports.edge}`;
    await waitFor(
      'the edge /healthz',
      async () => {
        try {
          return (await fetch(`${edgeUrl}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      exited,
      60_000,
    );
    const killAndRestart = async (service: string) => {
      const index = running.findIndex((p) => p.name === service);
      const victim = running[index];
      if (!victim || service === 'edge') throw new Error(`no service ${service} to restart`);
      running.splice(index, 1);
      if (victim.child.exitCode === null && victim.child.signalCode === null) {
        await new Promise<void>((resolve) => {
          victim.child.once('exit', () => resolve());
          victim.child.kill('SIGKILL');
        });
      }
      launch(service, entryPoints.get(service)!, envOf.get(service)!);
      await waitFor(`${service} on ${address(service)}`, () => portOpen(ports[service]!), exited, 120_000);
    };
    return {
      edgeUrl,
      pids: Object.fromEntries(running.map((p) => [p.name, p.child.pid ?? 0])),
      killAndRestart,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
