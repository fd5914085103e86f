import type { Logger } from 'pino';
import { jittered } from '../../jitter.ts';
import { DeliveryDeferredError } from '../event-bus.ts';

export interface PollingLoop {
  /** Run again soon, without waiting for the next poll. */
  nudge(): void;
  /** The round in progress, if any (resolves, never rejects). */
  idle(): Promise<void>;
  /** Stops after the round in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `round` every `pollIntervalMs` (±20%), at once again when nudged during a successful round, and after a
 * failure with exponential backoff (capped at 30 s), or the delay a DeliveryDeferredError asks for.
 */
export function startPollingLoop(round: () => Promise<void>, options: { pollIntervalMs: number; log: Logger }): PollingLoop {
  const { pollIntervalMs, log } = options;
  let stopped = false;
  let wake: (() => void) | undefined;
  let nudged = false;
  let failures = 0;
  let running: Promise<void> = Promise.resolve();
  const loop = (async () => {
    while (!stopped) {
      let delay = jittered(pollIntervalMs);
      try {
        nudged = false;
        running = round();
        await running;
        failures = 0;
      } catch (err) {
        failures++;
        delay = err instanceof DeliveryDeferredError ? err.retryInMs : Math.min(pollIntervalMs * 2 ** Math.min(failures, 5), 30_000);
        const level = err instanceof DeliveryDeferredError || failures > 1 ? 'debug' : 'warn';
        log[level]({ err, failures, retryInMs: delay }, 'outbox relay round failed; events stay in the outbox');
      }
      if (stopped) break;
      if (nudged && failures === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  })();
  return {
    nudge() {
      nudged = true;
      wake?.();
    },
    idle: () => running.catch(() => undefined),
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
