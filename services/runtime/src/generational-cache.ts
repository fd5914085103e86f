/**
 * The one cache type of the services: values by key, each kept with the version it was made for, in a budget.
 *
 * Versions: a value is only served to a caller who names the version it needs (a row's stamp, a page's digest,
 * the exact bytes a JSON was written for), so a value made for anything else is a miss, never stale output.
 * Callers that cannot know the current version without a round trip use getIfCurrent, which asks only when
 * there is something to compare with. Entries may also have a maximum age.
 *
 * Budget: each entry has a cost (its bytes, or 1 when the budget counts entries). Entries go into a young map;
 * when adding one would take it past half the budget, the young map becomes the old one and the previous old
 * one is dropped (its entries count as evictions). A hit in the old map moves the entry to the young one, so
 * what is used stays and the total never exceeds the budget: least recently used out first, in halves, without
 * a linked list or a timestamp per lookup. An entry costing more than half the budget is not kept; a budget of
 * 0 keeps nothing.
 *
 * Hits, misses and evictions are plain counters read by the metrics at scrape time (cache-metrics.ts), so a
 * lookup costs one or two map reads and an increment.
 */
export interface GenerationalCacheOptions<Version> {
  /** The `cache` label of its metrics, e.g. `task_bytes`. */
  name: string;
  /** What costs count: bytes (the metrics then report them) or entries (every entry costs 1). */
  unit: 'bytes' | 'entries';
  /** Most cost held at once; 0 keeps nothing. */
  budget: number;
  /** How long an entry may be served after it was set; unset: no limit; 0 keeps nothing. */
  maxAgeMs?: number;
  now?: () => number;
  /** How a kept version is compared with the one asked for; default `===`. */
  sameVersion?: (kept: Version, asked: Version) => boolean;
}

interface Entry<V, Version> {
  value: V;
  version: Version;
  cost: number;
  /** Only read when maxAgeMs is set. */
  expiresAt: number;
}

export class GenerationalCache<K, V, Version = undefined> {
  readonly name: string;
  readonly unit: 'bytes' | 'entries';
  readonly budget: number;
  /** Lookups answered, lookups not answered, entries dropped to stay within the budget. */
  hits = 0;
  misses = 0;
  evictions = 0;

  private young = new Map<K, Entry<V, Version>>();
  private old = new Map<K, Entry<V, Version>>();
  private youngCost = 0;
  private oldCost = 0;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly sameVersion: ((kept: Version, asked: Version) => boolean) | undefined;

  constructor(options: GenerationalCacheOptions<Version>) {
    if (!Number.isInteger(options.budget) || options.budget < 0) throw new Error(`cache ${options.name}: budget must be a whole number >= 0`);
    this.name = options.name;
    this.unit = options.unit;
    this.budget = options.maxAgeMs === 0 ? 0 : options.budget;
    this.maxAgeMs = options.maxAgeMs ?? 0;
    this.now = options.now ?? Date.now;
    this.sameVersion = options.sameVersion;
  }

  /** False when nothing can be kept (budget or maximum age 0): callers may skip the work of filling it. */
  get enabled(): boolean {
    return this.budget > 0;
  }

  /** Entries held. */
  get size(): number {
    return this.young.size + this.old.size;
  }

  /** Cost held (bytes, or entries). */
  get cost(): number {
    return this.youngCost + this.oldCost;
  }

  /** The value kept for `key` at exactly `version`; counted as a hit or a miss. */
  get(key: K, version: Version): V | undefined {
    const entry = this.young.get(key) ?? this.promote(key);
    if (entry !== undefined && this.matches(entry, version) && this.fresh(entry)) {
      this.hits++;
      return entry.value;
    }
    this.misses++;
    return undefined;
  }

  /**
   * The value kept for `key` if its version is the current one, which `currentVersion` reads (a database round
   * trip): called only when there is an entry to compare it with. Counted as a hit or a miss.
   */
  async getIfCurrent(key: K, currentVersion: () => Promise<Version>): Promise<V | undefined> {
    const entry = this.young.get(key) ?? this.promote(key);
    if (entry !== undefined && this.fresh(entry) && this.matches(entry, await currentVersion())) {
      this.hits++;
      return entry.value;
    }
    this.misses++;
    return undefined;
  }

  /**
   * The value kept for `key`, whatever its version, not counted: for values that gather several answers (a
   * board's checks), whose owner counts each answer with countLookup.
   */
  find(key: K): V | undefined {
    const entry = this.young.get(key) ?? this.promote(key);
    return entry !== undefined && this.fresh(entry) ? entry.value : undefined;
  }

  countLookup(hit: boolean): void {
    if (hit) this.hits++;
    else this.misses++;
  }

  /** Keeps `value` for `key` at `version`, replacing what was kept for it; `cost` in the budget's unit. */
  set(key: K, value: V, version: Version, cost = 1): void {
    this.delete(key);
    if (cost * 2 > this.budget) return;
    this.place(key, { value, version, cost, expiresAt: this.maxAgeMs > 0 ? this.now() + this.maxAgeMs : 0 });
  }

  delete(key: K): void {
    const young = this.young.get(key);
    if (young !== undefined) {
      this.young.delete(key);
      this.youngCost -= young.cost;
    }
    const old = this.old.get(key);
    if (old !== undefined) {
      this.old.delete(key);
      this.oldCost -= old.cost;
    }
  }

  /** Drops every entry whose key matches (an organization's boards on its deletion). */
  deleteWhere(matches: (key: K) => boolean): void {
    for (const key of this.young.keys()) if (matches(key)) this.delete(key);
    for (const key of this.old.keys()) if (matches(key)) this.delete(key);
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngCost = 0;
    this.oldCost = 0;
  }

  private matches(entry: Entry<V, Version>, version: Version): boolean {
    return this.sameVersion === undefined ? entry.version === version : this.sameVersion(entry.version, version);
  }

  private fresh(entry: Entry<V, Version>): boolean {
    return this.maxAgeMs === 0 || entry.expiresAt > this.now();
  }

  /** Moves an old entry to the young map, as a use of it. */
  private promote(key: K): Entry<V, Version> | undefined {
    const entry = this.old.get(key);
    if (entry === undefined) return undefined;
    this.old.delete(key);
    this.oldCost -= entry.cost;
    this.place(key, entry);
    return entry;
  }

  private place(key: K, entry: Entry<V, Version>): void {
    if ((this.youngCost + entry.cost) * 2 > this.budget) {
      this.evictions += this.old.size;
      this.old = this.young;
      this.oldCost = this.youngCost;
      this.young = new Map();
      this.youngCost = 0;
    }
    this.young.set(key, entry);
    this.youngCost += entry.cost;
  }
}
