/**
 * `ms` moved at random by up to ±`spread` of itself: background loops of services started together (`npm
 * start`, replicas rolled out at once) drift apart instead of all reaching for the database in the same second.
 */
export function jittered(ms: number, spread = 0.2): number {
  return Math.round(ms * (1 - spread + 2 * spread * Math.random()));
}
