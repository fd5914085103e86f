import { describe, expect, it } from 'vitest';
import { GenerationalCache } from './generational-cache.ts';

const bytesCache = (budget: number) => new GenerationalCache<string, string, string>({ name: 't', unit: 'bytes', budget });

describe('GenerationalCache', () => {
  it('serves a value only at the version it was kept for, and counts hits and misses', () => {
    const cache = bytesCache(1_000);
    expect(cache.get('a', 'v1')).toBeUndefined();
    cache.set('a', 'A1', 'v1', 10);
    expect(cache.get('a', 'v1')).toBe('A1');
    expect(cache.get('a', 'v2')).toBeUndefined();
    expect(cache.get('b', 'v1')).toBeUndefined();
    // A new version replaces the old one: the old one is never served again, and the cost is the new one's.
    cache.set('a', 'A2', 'v2', 30);
    expect(cache.get('a', 'v1')).toBeUndefined();
    expect(cache.get('a', 'v2')).toBe('A2');
    expect([cache.hits, cache.misses, cache.size, cache.cost]).toEqual([2, 4, 1, 30]);
  });

  it('compares versions with the given function', () => {
    const cache = new GenerationalCache<string, string, Uint8Array>({
      name: 't',
      unit: 'bytes',
      budget: 1_000,
      sameVersion: (kept, asked) => Buffer.from(kept).equals(asked),
    });
    cache.set('k', 'json', new Uint8Array([1, 2, 3]), 10);
    expect(cache.get('k', new Uint8Array([1, 2, 3]))).toBe('json');
    expect(cache.get('k', new Uint8Array([1, 2, 4]))).toBeUndefined();
  });

  it('holds at most its budget: the older half goes when the younger is full, and what is used moves up', () => {
    const cache = bytesCache(100); // halves of 50: five entries of 10
    for (let i = 0; i < 5; i++) cache.set(`k${i}`, `v${i}`, 'v', 10);
    expect([cache.size, cache.cost, cache.evictions]).toEqual([5, 50, 0]);
    // The sixth opens a new young half; the five become the old one.
    cache.set('k5', 'v5', 'v', 10);
    expect([cache.size, cache.cost, cache.evictions]).toEqual([6, 60, 0]);
    // k0 is used: it moves to the young half (which now holds k5, k0).
    expect(cache.get('k0', 'v')).toBe('v0');
    for (let i = 6; i < 9; i++) cache.set(`k${i}`, `v${i}`, 'v', 10);
    // Young is full (k5, k0, k6, k7, k8); the next drops the old half (k1..k4).
    cache.set('k9', 'v9', 'v', 10);
    expect(cache.evictions).toBe(4);
    for (const gone of ['k1', 'k2', 'k3', 'k4']) expect(cache.get(gone, 'v')).toBeUndefined();
    for (const kept of ['k0', 'k5', 'k6', 'k7', 'k8', 'k9']) expect(cache.get(kept, 'v')).toBe(`v${kept.slice(1)}`);
    expect(cache.cost).toBeLessThanOrEqual(100);
    for (let i = 0; i < 1_000; i++) {
      cache.set(`n${i}`, 'x', 'v', 1 + (i % 17));
      expect(cache.cost).toBeLessThanOrEqual(100);
    }
  });

  it('does not keep an entry costing more than half its budget, and drops what it replaced', () => {
    const cache = bytesCache(100);
    cache.set('a', 'small', 'v1', 50);
    expect(cache.get('a', 'v1')).toBe('small');
    cache.set('a', 'big', 'v2', 51);
    expect(cache.get('a', 'v1')).toBeUndefined();
    expect(cache.get('a', 'v2')).toBeUndefined();
    expect([cache.size, cache.cost]).toEqual([0, 0]);
  });

  it('keeps nothing with a budget of 0 or a maximum age of 0', () => {
    for (const cache of [bytesCache(0), new GenerationalCache<string, string, string>({ name: 't', unit: 'entries', budget: 10, maxAgeMs: 0 })]) {
      expect(cache.enabled).toBe(false);
      cache.set('a', 'A', 'v', 1);
      expect(cache.get('a', 'v')).toBeUndefined();
      expect(cache.size).toBe(0);
    }
    expect(() => bytesCache(-1)).toThrow(/budget/);
  });

  it('serves an entry no longer than its maximum age', () => {
    const clock = { t: 0 };
    const cache = new GenerationalCache<string, string>({ name: 't', unit: 'entries', budget: 10, maxAgeMs: 1_000, now: () => clock.t });
    cache.set('a', 'A', undefined);
    clock.t = 999;
    expect(cache.get('a', undefined)).toBe('A');
    expect(cache.find('a')).toBe('A');
    clock.t = 1_000;
    expect(cache.get('a', undefined)).toBeUndefined();
    expect(cache.find('a')).toBeUndefined();
    // Set again: a new age.
    cache.set('a', 'A', undefined);
    expect(cache.find('a')).toBe('A');
  });

  it('asks for the current version only when there is an entry to compare it with', async () => {
    const cache = bytesCache(1_000);
    let asked = 0;
    const current = (version: string) => async () => {
      asked++;
      return version;
    };
    expect(await cache.getIfCurrent('p', current('d1'))).toBeUndefined();
    expect(asked).toBe(0);
    cache.set('p', 'page', 'd1', 10);
    expect(await cache.getIfCurrent('p', current('d1'))).toBe('page');
    expect(await cache.getIfCurrent('p', current('d2'))).toBeUndefined();
    expect([asked, cache.hits, cache.misses]).toEqual([2, 1, 2]);
  });

  it('finds without counting, counts what its owner reports, and deletes by key or by a test on keys', () => {
    const cache = new GenerationalCache<string, number>({ name: 't', unit: 'entries', budget: 100 });
    for (const key of ['o1/b1', 'o1/b2', 'o2/b1']) cache.set(key, 1, undefined);
    expect(cache.find('o1/b1')).toBe(1);
    expect([cache.hits, cache.misses]).toEqual([0, 0]);
    cache.countLookup(true);
    cache.countLookup(false);
    cache.countLookup(false);
    expect([cache.hits, cache.misses]).toEqual([1, 2]);
    cache.deleteWhere((key) => key.startsWith('o1/'));
    expect([cache.find('o1/b1'), cache.find('o1/b2'), cache.find('o2/b1')]).toEqual([undefined, undefined, 1]);
    expect([cache.size, cache.cost]).toEqual([1, 1]);
    cache.delete('o2/b1');
    expect([cache.size, cache.cost]).toEqual([0, 0]);
    cache.set('x', 2, undefined);
    cache.clear();
    expect([cache.size, cache.cost, cache.find('x')]).toEqual([0, 0, undefined]);
  });

  it('keeps its cost exact when entries move between halves, are replaced and deleted', () => {
    const cache = bytesCache(64);
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 5_000; step++) {
      const key = `k${random(20)}`;
      const action = random(4);
      if (action === 0) cache.set(key, key, 'v', 1 + random(40));
      else if (action === 1) cache.delete(key);
      else cache.get(key, 'v');
      expect(cache.cost).toBeLessThanOrEqual(64);
      expect(cache.cost).toBeGreaterThanOrEqual(cache.size);
    }
    // Deleting every key leaves nothing counted: no cost was lost or counted twice on the way.
    for (let i = 0; i < 20; i++) cache.delete(`k${i}`);
    expect([cache.size, cache.cost]).toEqual([0, 0]);
  });
});
