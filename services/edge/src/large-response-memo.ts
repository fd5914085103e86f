/**
 * The JSON of large responses, kept by their exact protobuf bytes.
 *
 * Turning a response into JSON is a pure function of its type and its bytes (response-json.ts), and large
 * responses repeat: a board of a thousand tasks is loaded by everyone on the team, and the task service answers
 * an unchanged page with the same bytes. For responses of at least `minBytes`, the edge keeps the JSON it wrote
 * next to a copy of the bytes it came from, and answers the same type with byte-for-byte the same payload with
 * that JSON: one memcmp instead of a pass of the writer. Nothing but byte equality decides a hit, so what is sent
 * is exactly what the writer would write; nothing is shared between callers that they could not have produced
 * themselves (the upstream answered this caller with these very bytes).
 *
 * Entries are found by type, length and a sample of the bytes, then compared in full; one entry per key (the
 * latest). Bounded by `budgetBytes` (bytes plus JSON), least recently used first out.
 */
export class LargeResponseMemo {
  private readonly entries = new Map<string, { bytes: Buffer; json: Uint8Array }>();
  private size = 0;

  constructor(
    readonly minBytes = 16 * 1024,
    readonly budgetBytes = 32 * 1024 * 1024,
  ) {}

  /** The JSON kept for exactly these bytes of this type, if any. */
  get(typeName: string, bytes: Uint8Array): Uint8Array | undefined {
    if (bytes.length < this.minBytes) return undefined;
    const key = keyOf(typeName, bytes);
    const entry = this.entries.get(key);
    if (!entry || !entry.bytes.equals(bytes)) return undefined;
    // Most recently used last.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.json;
  }

  /** Keeps the JSON written for these bytes (copied: the caller's buffer may be reused). */
  set(typeName: string, bytes: Uint8Array, json: Uint8Array): void {
    if (bytes.length < this.minBytes) return;
    const cost = bytes.length + json.length;
    if (cost > this.budgetBytes) return;
    const key = keyOf(typeName, bytes);
    this.drop(key);
    this.entries.set(key, { bytes: Buffer.from(bytes), json });
    this.size += cost;
    for (const oldest of this.entries.keys()) {
      if (this.size <= this.budgetBytes) break;
      this.drop(oldest);
    }
  }

  /** Bytes held (kept bytes plus JSON). */
  get heldBytes(): number {
    return this.size;
  }

  private drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    this.size -= entry.bytes.length + entry.json.length;
  }
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
