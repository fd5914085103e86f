import { describe, expect, it } from 'vitest';
import { isBetween, keyBetween } from './order-keys.ts';

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('order keys', () => {
  it('always finds a key strictly between two neighbours, even after 2,000 inserts into one gap', () => {
    let lower = keyBetween(null, null);
    const upper = keyBetween(lower, null);
    for (let i = 0; i < 2000; i++) {
      const key = keyBetween(lower, upper);
      expect(byteOrder(lower, key)).toBe(-1);
      expect(byteOrder(key, upper)).toBe(-1);
      lower = key;
    }
    // The worst case (always the same gap) grows a key by about one base-62 digit per five or six inserts;
    // it only gets longer, never imprecise, and nothing is ever rebalanced.
    expect(lower.length).toBeLessThan(2000 / 4);
  });

  it('sorts keys in JavaScript string order and byte order alike', () => {
    const keys = [keyBetween(null, null)];
    for (let i = 0; i < 200; i++) keys.push(keyBetween(keys[keys.length - 1]!, null));
    for (let i = 0; i < 200; i++) keys.unshift(keyBetween(null, keys[0]!));
    expect([...keys].sort()).toEqual(keys);
    expect([...keys].sort(byteOrder)).toEqual(keys);
  });

  it('knows when a key already sits in a gap', () => {
    expect(isBetween('a1', 'a0', 'a2')).toBe(true);
    expect(isBetween('a1', null, 'a1')).toBe(false);
    expect(isBetween('a1', null, null)).toBe(true);
  });
});
