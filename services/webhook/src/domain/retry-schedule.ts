/** Waits after failed attempt 1, 2, … (seconds); when they run out the delivery has failed for good. */
export const DEFAULT_RETRY_SCHEDULE_SECONDS: readonly number[] = [60, 300, 1_800, 7_200, 21_600];

/** Parses "60,300,1800" (fractions allowed, for tests); throws on anything else. */
export function parseRetrySchedule(value: string): number[] {
  const steps = value.split(',').map((s) => Number(s.trim()));
  if (steps.length === 0 || steps.some((s) => !Number.isFinite(s) || s <= 0)) {
    throw new Error('must be a comma-separated list of positive numbers of seconds');
  }
  return steps;
}

/** When the next attempt is due after `failedAttempts` failures, or undefined when none is left. */
export function nextAttemptAfter(schedule: readonly number[], failedAttempts: number, now: Date): Date | undefined {
  const wait = schedule[failedAttempts - 1];
  return wait === undefined ? undefined : new Date(now.getTime() + wait * 1000);
}
