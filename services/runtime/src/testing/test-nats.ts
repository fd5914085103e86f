import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

/**
 * Where JetStream tests find NATS: NATS_TEST_URL (default nats://127.0.0.1:4222). Returns undefined when it
 * is unreachable so the suite can skip, except with TASKMESH_REQUIRE_NATS=1 (CI), where that throws and the
 * suite fails.
 */
export async function natsForTests(): Promise<string | undefined> {
  const url = process.env.NATS_TEST_URL || 'nats://127.0.0.1:4222';
  const { hostname, port } = new URL(url);
  if (await reachable(hostname, Number(port) || 4222)) return url;
  if (process.env.TASKMESH_REQUIRE_NATS === '1') {
    throw new Error(`TASKMESH_REQUIRE_NATS=1 but NATS at ${url} is unreachable`);
  }
  return undefined;
}

function reachable(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/**
 * Stream and subject names of one test run, so runs sharing a server never see each other's events, and a
 * small size cap (JetStream reserves a stream's max_bytes on disk when creating it).
 */
export function uniqueStreamSettings(): { stream: string; subjectPrefix: string; maxBytes: number } {
  const tag = randomBytes(4).toString('hex');
  return { stream: `TEST_${tag.toUpperCase()}`, subjectPrefix: `tmtest${tag}`, maxBytes: 16 * 1024 * 1024 };
}


/** A nats-server of the test's own (for faults that would disturb the shared one), store kept across restarts. */
export interface PrivateNatsServer {
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * Runs the server under a shell that sends it SIGTERM once its stdin (a pipe from this process) closes: on
 * stop(), and also when the test process dies in any way, so no server outlives its test file.
 */
const WATCHED = 'exec 4<&0; "$@" </dev/null & pid=$!; (read -r _ <&4; kill -TERM "$pid" 2>/dev/null) & wait "$pid"';

export async function startPrivateNatsServer(binary = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server'): Promise<PrivateNatsServer> {
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'taskmesh-nats-'));
  let child: ChildProcess | undefined;
  const server: PrivateNatsServer = {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      child = spawn('/bin/sh', ['-c', WATCHED, 'nats-watchdog', binary, '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
        stdio: ['pipe', 'ignore', 'ignore'],
        detached: true,
      });
      const exited = new Promise<never>((_, reject) =>
        child!.once('exit', (code) => reject(new Error(`nats-server exited with ${code}`))),
      );
      exited.catch(() => undefined);
      for (let i = 0; i < 100; i++) {
        if (await Promise.race([reachable('127.0.0.1', port, 500), exited])) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('private nats-server did not start');
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      // A clean stop (SIGTERM, as `systemctl stop` does): a SIGKILL can lose the file store's last writes,
      // which would be the server's loss, not one the code under test could prevent.
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => process.kill(-running.pid!, 'SIGKILL'), 10_000);
        running.once('exit', () => {
          clearTimeout(force);
          resolve();
        });
        running.stdin!.end();
      });
    },
    async dispose() {
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
