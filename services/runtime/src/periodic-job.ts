import type { Logger } from 'pino';

/** A background job started with the service: at most one run at a time, a failure logged, never thrown. */
export interface PeriodicJob {
  /** Runs now (unless `runAtStart` is false), then every interval; a run still going when the next is due is not doubled. */
  start(): void;
  /** Stops the timer and waits for the run in progress. */
  stop(): Promise<void>;
}

export function periodicJob(
  run: () => Promise<unknown>,
  options: {
    intervalMs: number;
    log: Logger;
    what: string;
    runAtStart?: boolean;
    /**
     * Instead of at start, the first run comes this long after it (then every interval from that run), e.g. to
     * let start-up settle or, jittered, to keep jobs of services started together from running together.
     */
    firstRunAfterMs?: number;
  },
): PeriodicJob {
  let timer: NodeJS.Timeout | undefined;
  let first: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    running ??= run()
      .catch((err: unknown) => options.log.error({ err }, `${options.what} failed`))
      .finally(() => {
        running = undefined;
      });
  };
  return {
    start() {
      const every = () => {
        timer = setInterval(tick, options.intervalMs);
        timer.unref();
      };
      if (options.firstRunAfterMs !== undefined) {
        first = setTimeout(() => (tick(), every()), options.firstRunAfterMs);
        first.unref();
        return;
      }
      if (options.runAtStart ?? true) tick();
      every();
    },
    async stop() {
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}
