import { z } from 'zod';
import type { Logger } from 'pino';
import { parseConfig } from './config.ts';

/** How long a stopping process lets in-flight calls and streams finish before it cuts them. */
const shutdownConfigSchema = z.object({
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3_600).default(10),
});

/** Past the grace period, the process exits by force after this much more, whatever still hangs. */
export const HARD_EXIT_MARGIN_MS = 4_000;

let graceMs: number | undefined;

/** SHUTDOWN_GRACE_SECONDS (default 10) in milliseconds, parsed once per process. */
export function shutdownGraceMs(env: NodeJS.ProcessEnv = process.env): number {
  return (graceMs ??= parseConfig(shutdownConfigSchema, env).SHUTDOWN_GRACE_SECONDS * 1_000);
}

/**
 * Runs close() once on SIGTERM or SIGINT, then exits. close() is expected to drain within the grace period;
 * a hard timer (unref'd, so it never keeps an idle process alive) exits anyway shortly after, so an upstream
 * or a database that hangs cannot keep the process (and its ports) alive. A second signal exits at once.
 */
export function onShutdownSignal(close: () => Promise<void>, log: Logger, options: { graceMs?: number } = {}): void {
  let closing = false;
  // Read now, so a bad SHUTDOWN_GRACE_SECONDS stops start-up rather than the shutdown.
  const grace = options.graceMs ?? shutdownGraceMs();
  const handler = (signal: NodeJS.Signals) => {
    if (closing) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    closing = true;
    log.info({ signal, graceMs: grace }, 'shutting down');
    setTimeout(() => {
      log.error({ graceMs: grace }, 'shutdown did not finish in time: exiting by force');
      process.exit(1);
    }, grace + HARD_EXIT_MARGIN_MS).unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
