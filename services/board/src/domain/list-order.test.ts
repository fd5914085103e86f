import { describe, expect, it } from 'vitest';
import { compareOrderKeys, gapFor, orderKeyBetween, type Placement } from './list-order.ts';

/** A deterministic PRNG (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Places `id` on a board of id → key, the way the service does: neighbours are the other lists' keys. */
function place(keys: Map<string, string>, id: string, placement: Placement): void {
  const others = [...keys].filter(([other]) => other !== id).map(([, key]) => key).sort(compareOrderKeys);
  const anchorId = 'before' in placement ? placement.before : 'after' in placement ? placement.after : undefined;
  keys.set(id, orderKeyBetween(gapFor(placement, others, anchorId ? keys.get(anchorId) : undefined)));
}

const boardOrder = (keys: Map<string, string>) => [...keys].sort(([, a], [, b]) => compareOrderKeys(a, b)).map(([id]) => id);

describe('list order keys', () => {
  it('1,000 random moves keep a strict order equal to a reference model', () => {
    const next = random(20261123);
    const keys = new Map<string, string>();
    const reference: string[] = [];
    for (let i = 0; i < 12; i++) {
      const id = `list-${i}`;
      place(keys, id, { end: true });
      reference.push(id);
    }
    for (let move = 0; move < 1_000; move++) {
      const id = reference[Math.floor(next() * reference.length)]!;
      const others = reference.filter((other) => other !== id);
      const anchor = others[Math.floor(next() * others.length)]!;
      const kind = next();
      const placement: Placement = kind < 0.45 ? { before: anchor } : kind < 0.9 ? { after: anchor } : { end: true };
      place(keys, id, placement);
      // The reference: remove, then insert at the named place.
      reference.splice(reference.indexOf(id), 1);
      if ('before' in placement) reference.splice(reference.indexOf(placement.before), 0, id);
      else if ('after' in placement) reference.splice(reference.indexOf(placement.after) + 1, 0, id);
      else reference.push(id);

      expect(boardOrder(keys)).toEqual(reference);
    }
    const sorted = boardOrder(keys).map((id) => keys.get(id)!);
    for (let i = 1; i < sorted.length; i++) expect(compareOrderKeys(sorted[i - 1]!, sorted[i]!)).toBe(-1);
  });

  it('splitting one gap again and again never runs out of precision', () => {
    let lower = orderKeyBetween({ lower: null, upper: null });
    const upper = orderKeyBetween({ lower, upper: null });
    for (let i = 0; i < 2_000; i++) {
      const key = orderKeyBetween({ lower, upper });
      expect(compareOrderKeys(lower, key)).toBe(-1);
      expect(compareOrderKeys(key, upper)).toBe(-1);
      lower = key;
    }
    // The price of never rebalancing: splitting the same gap from one side grows the key by about one
    // character per five splits (base 52 halves the gap each time); it never collides or runs out.
    expect(lower.length).toBeLessThan(450);
  });

  it('keys are ASCII, so byte order (collation "C") and JavaScript order agree', () => {
    const keys = [null as string | null];
    for (let i = 0; i < 200; i++) keys.push(orderKeyBetween({ lower: keys.at(-1) ?? null, upper: null }));
    for (const key of keys.slice(1)) expect(key).toMatch(/^[\x21-\x7e]+$/);
  });
});
