import { afterEach, describe, expect, it, vi } from 'vitest';
import { everyJittered, jittered } from './jitter.ts';

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('jittered', () => {
  it('stays within ±spread of the value', () => {
    vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValueOnce(0.999999).mockReturnValueOnce(0.5);
    expect(jittered(1_000)).toBe(800);
    expect(jittered(1_000)).toBe(1_200);
    expect(jittered(30_000, 0.5)).toBe(30_000);
  });
});

describe('everyJittered', () => {
  it('ticks after a fresh jittered delay each time and never again once stopped', async () => {
    vi.useFakeTimers();
    // Delays of 800, then 1200, then 800 ms for an interval of 1000.
    vi.spyOn(Math, 'random').mockReturnValueOnce(0).mockReturnValueOnce(0.999999).mockReturnValue(0);
    let ticks = 0;
    const timer = everyJittered(() => void (ticks += 1), 1_000);
    await vi.advanceTimersByTimeAsync(799);
    expect(ticks).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(ticks).toBe(1);
    await vi.advanceTimersByTimeAsync(1_199);
    expect(ticks).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(ticks).toBe(2);
    timer.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(ticks).toBe(2);
  });
});
