import { GenerationalCache } from '@taskmesh/runtime/generational-cache';

/**
 * The JSON of large responses, kept by their exact protobuf bytes.
 *
 * Turning a response into JSON is a pure function of its type and its bytes (response-json.ts), and large
 * responses repeat: a board of a thousand tasks is loaded by everyone on the team, and the task service answers
 * an unchanged page with the same bytes. For responses of at least LARGE_RESPONSE_MIN_BYTES, the edge keeps the
 * JSON it wrote with a copy of the bytes it came from as the entry's version, and answers the same type with
 * byte-for-byte the same payload with that JSON: one memcmp instead of a pass of the writer. Nothing but byte
 * equality decides a hit, so what is sent is exactly what the writer would write; nothing is shared between
 * callers that they could not have produced themselves (the upstream answered this caller with these bytes).
 *
 * Entries are found by type, length and a sample of the bytes, then compared in full; one entry per key (the
 * latest). Each costs its bytes plus its JSON in the budget (startEdge's largeResponseCacheBytes).
 */
export type LargeResponseMemo = GenerationalCache<string, Uint8Array, Uint8Array>;

export const LARGE_RESPONSE_MIN_BYTES = 16 * 1024;
export const DEFAULT_LARGE_RESPONSE_CACHE_BYTES = 32 * 1024 * 1024;

export function largeResponseMemo(budgetBytes: number): LargeResponseMemo {
  return new GenerationalCache<string, Uint8Array, Uint8Array>({
    name: 'edge_large_response',
    unit: 'bytes',
    budget: budgetBytes,
    sameVersion: (kept, bytes) => (kept as Buffer).equals(bytes),
  });
}

/** The JSON kept for exactly these bytes of this type, if any. */
export function keptJson(memo: LargeResponseMemo | undefined, typeName: string, bytes: Uint8Array): Uint8Array | undefined {
  if (memo === undefined || !memo.enabled || bytes.length < LARGE_RESPONSE_MIN_BYTES) return undefined;
  return memo.get(keyOf(typeName, bytes), bytes);
}

/** Keeps the JSON written for these bytes (copied: the caller's buffer may be reused). */
export function keepJson(memo: LargeResponseMemo | undefined, typeName: string, bytes: Uint8Array, json: Uint8Array): void {
  if (memo === undefined || !memo.enabled || bytes.length < LARGE_RESPONSE_MIN_BYTES) return;
  memo.set(keyOf(typeName, bytes), json, Buffer.from(bytes), bytes.length + json.length);
}

const SAMPLES = 64;

/** Type, length and an FNV-1a hash of 64 bytes spread over the payload: cheap, and only a hint (equals decides). */
function keyOf(typeName: string, bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  const step = Math.max(1, Math.floor(bytes.length / SAMPLES));
  for (let i = bytes.length - 1, n = 0; i >= 0 && n < SAMPLES; i -= step, n++) {
    hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  }
  return `${typeName}\u0000${bytes.length}\u0000${(hash >>> 0).toString(36)}`;
}
