import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { periodicJob } from './periodic-job.ts';

describe('periodicJob', () => {
  it('runs at start, logs a failure instead of throwing, and stop() waits for the run in progress', async () => {
    const errors: unknown[] = [];
    const log = pino({ level: 'error' }, { write: (line: string) => void errors.push(JSON.parse(line)) });
    let finish!: () => void;
    let runs = 0;
    const job = periodicJob(
      () => {
        runs += 1;
        return new Promise<void>((_, reject) => {
          finish = () => reject(new Error('boom'));
        });
      },
      { intervalMs: 3_600_000, log, what: 'test job' },
    );
    job.start();
    expect(runs).toBe(1);
    let stopped = false;
    const stopping = job.stop().then(() => {
      stopped = true;
    });
    await Promise.resolve();
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
    expect(errors).toMatchObject([{ msg: 'test job failed', err: { message: 'boom' } }]);
  });

  it('with runAtStart false, waits for the first interval', async () => {
    let runs = 0;
    const job = periodicJob(async () => void (runs += 1), { intervalMs: 3_600_000, log: pino({ level: 'silent' }), what: 'quiet', runAtStart: false });
    job.start();
    await job.stop();
    expect(runs).toBe(0);
  });

  it('with firstRunAfterMs, runs first after that delay, not at start, and not at all when stopped before', async () => {
    let runs = 0;
    const options = { intervalMs: 3_600_000, log: pino({ level: 'silent' }), what: 'delayed', firstRunAfterMs: 30 };
    const job = periodicJob(async () => void (runs += 1), options);
    job.start();
    expect(runs).toBe(0);
    await new Promise((r) => setTimeout(r, 80));
    expect(runs).toBe(1);
    await job.stop();

    const stoppedEarly = periodicJob(async () => void (runs += 1), options);
    stoppedEarly.start();
    await stoppedEarly.stop();
    await new Promise((r) => setTimeout(r, 80));
    expect(runs).toBe(1);
  });

  it('with firstRunAfterMs, counts the interval from the first run, not from start', async () => {
    vi.useFakeTimers();
    try {
      let runs = 0;
      const job = periodicJob(async () => void (runs += 1), { intervalMs: 100, log: pino({ level: 'silent' }), what: 'phased', firstRunAfterMs: 30 });
      job.start();
      await vi.advanceTimersByTimeAsync(30);
      expect(runs).toBe(1);
      await vi.advanceTimersByTimeAsync(90);
      expect(runs).toBe(1);
      await vi.advanceTimersByTimeAsync(20);
      expect(runs).toBe(2);
      await job.stop();
      await vi.advanceTimersByTimeAsync(500);
      expect(runs).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
