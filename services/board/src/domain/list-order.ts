import { generateKeyBetween } from 'fractional-indexing';

/**
 * Where lists go on a board. Positions are fractional order keys (fractional-indexing, its default base-52
 * alphabet): strings that sort byte-wise, between any two of which another key always exists, so a move
 * rewrites one row, never rebalances, and never runs out of precision (keys just grow a character when a gap
 * is split very often: about one character per five splits of the same gap from the same side, the
 * information-theoretic cost of bisecting without rebalancing). Two moves racing into the same gap compute the same key; the unique index on
 * (org, board, position) rejects the second, which retries with fresh neighbours.
 */

/** Where to put a list: before or after another list of the board (by id), or at the end. */
export type Placement = { before: string } | { after: string } | { end: true };

/** The keys around the target gap: null for the start or the end of the board. */
export interface Gap {
  lower: string | null;
  upper: string | null;
}

/** A key strictly between lower and upper (byte order). */
export function orderKeyBetween(gap: Gap): string {
  return generateKeyBetween(gap.lower, gap.upper);
}

/** Byte-wise comparison, the order PostgreSQL uses for a column with collation "C" (keys are ASCII). */
export function compareOrderKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The gap a placement names among `others`: the positions of the board's live lists other than the one being
 * placed, sorted ascending. `anchor` is the position of the list named by before/after (absent for the end).
 */
export function gapFor(placement: Placement, others: readonly string[], anchor?: string): Gap {
  if ('end' in placement) return { lower: others.at(-1) ?? null, upper: null };
  if (anchor === undefined) throw new Error('a before/after placement needs the anchor position');
  if ('before' in placement) {
    const lower = others.filter((p) => p < anchor).at(-1) ?? null;
    return { lower, upper: anchor };
  }
  const upper = others.find((p) => p > anchor) ?? null;
  return { lower: anchor, upper };
}
