/**
 * `ms` moved at random by up to ±`spread` of itself: background loops of services started together (`npm
 * start`, replicas rolled out at once) drift apart instead of all reaching for the database in the same second.
 */
export function jittered(ms: number, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * Math.random()));
}

export interface JitteredTimer {
  stop(): void;
}

/** Calls `tick` every `ms` (±spread, drawn anew each time) until stopped; the timer never keeps the process alive. */
export function everyJittered(tick: () => void, ms: number, spread = 0.2): JitteredTimer {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      tick();
      schedule();
    }, jittered(ms, spread));
    timer.unref();
  };
  schedule();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
