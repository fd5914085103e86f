import type { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Database } from './database.ts';
import { everyJittered } from './jitter.ts';

/**
 * Keeps a server's grpc.health statuses in line with its database: every intervalMs (±20%) a `select 1` through
 * the service's own pool must answer within timeoutMs, else the server reports NOT_SERVING (and the edge's
 * /healthz with it) until it answers again.
 */
export interface DatabaseHealthWatch {
  /** Runs one check now and applies its outcome; resolves to whether the database answered. */
  check(): Promise<boolean>;
  stop(): void;
}

export function watchDatabaseHealth(options: {
  db: Database;
  health: HealthImplementation;
  /** Service names registered on the server; '' (the whole server) is always included. */
  services: string[];
  log: Pick<Logger, 'info' | 'warn'>;
  intervalMs?: number;
  timeoutMs?: number;
}): DatabaseHealthWatch {
  const intervalMs = options.intervalMs ?? options.db.timeouts.healthIntervalMs;
  const timeoutMs = options.timeoutMs ?? Math.min(2_000, intervalMs);
  let healthy = true;
  let stopped = false;
  let running: Promise<boolean> | undefined;

  const answers = async (): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const query = options.db.em
      .getConnection()
      .execute('select 1')
      .then(() => true, () => false);
    try {
      return await Promise.race([query, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const check = (): Promise<boolean> =>
    (running ??= answers()
      .then((ok) => {
        if (stopped || ok === healthy) return ok;
        healthy = ok;
        const status = ok ? 'SERVING' : 'NOT_SERVING';
        for (const name of ['', ...options.services]) options.health.setStatus(name, status);
        if (ok) options.log.info({}, 'database answers again: SERVING');
        else options.log.warn({ timeoutMs }, 'database does not answer: NOT_SERVING');
        return ok;
      })
      .finally(() => (running = undefined)));

  const timer = everyJittered(() => void check(), intervalMs);
  return {
    check,
    stop() {
      stopped = true;
      timer.stop();
    },
  };
}
