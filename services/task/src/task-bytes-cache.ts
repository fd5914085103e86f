import type { EntityManager } from '@mikro-orm/postgresql';
import type { BoardPrefixes, TaskBytes } from './db/task-bytes.ts';
import { recordCacheLookup } from '@taskmesh/runtime/cache-metrics';

/**
 * The encoded Task message of task row versions, so a board listing reads from PostgreSQL only which row
 * versions its page holds ([id, stamp] per task) and copies the bytes of the versions it has seen.
 *
 * A row version is named by its stamp: the row's xmin (the transaction that wrote this version of the row: every
 * UPDATE writes a new version with a new xmin, whatever it changes and whoever runs it) and the task's version
 * (bumped by every update and move). Bytes are only ever used for the exact row version PostgreSQL just returned
 * for the page — read under both isolation walls — so a change anywhere, by any writer, is a miss, never stale
 * output; an xid that wrapped around to the same value would also need the same version. Each entry also holds
 * the board it was made for (the BoardPrefixes object of its org and board, compared by identity, which is cheap)
 * and is used for nothing else (task ids are unique and never change org or board; this is defence in depth).
 *
 * Memory is bounded by two generations: entries go into the young map, which becomes the old one when it holds
 * half the budget; the previous old one is dropped. A hit in the old generation is moved to the young one.
 */
export interface CachedTask extends TaskBytes {
  /** The org and board the bytes were made for, as the object that holds their name prefixes. */
  board: BoardPrefixes;
  /** "xmin/version" of the row version the bytes were made from. */
  stamp: string;
}

/** Bytes an entry is counted for beyond its message: the object, its strings, the map slot. */
const ENTRY_OVERHEAD = 400;

export class TaskBytesCache {
  private young = new Map<string, CachedTask>();
  private old = new Map<string, CachedTask>();
  private youngBytes = 0;

  constructor(readonly maxBytes: number) {}

  /** The entry of exactly this row version of this board (as BoardPrefixes.of gives it), if kept. */
  get(id: string, board: BoardPrefixes, stamp: string): CachedTask | undefined {
    let entry = this.young.get(id);
    if (!entry) {
      entry = this.old.get(id);
      if (entry) this.keep(id, entry);
    }
    const usable = entry && entry.board === board && entry.stamp === stamp ? entry : undefined;
    recordCacheLookup('task_bytes', usable !== undefined);
    return usable;
  }

  set(id: string, entry: CachedTask): void {
    this.keep(id, entry);
  }

  /** Entries in both generations (for tests). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  private keep(id: string, entry: CachedTask): void {
    const size = entry.bytes.length + ENTRY_OVERHEAD;
    if (size * 2 > this.maxBytes) return;
    this.young.set(id, entry);
    this.youngBytes += size;
    if (this.youngBytes * 2 > this.maxBytes) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }
}

/** Default budget per database: ~60,000 tasks of the usual size. */
export const TASK_BYTES_CACHE_BYTES = 32 * 1024 * 1024;

const caches = new WeakMap<object, TaskBytesCache>();

/** The cache of the database `em` belongs to (one per ORM: every fork shares its configuration). */
export function taskBytesCacheOf(em: EntityManager): TaskBytesCache {
  let cache = caches.get(em.config);
  if (!cache) {
    cache = new TaskBytesCache(TASK_BYTES_CACHE_BYTES);
    caches.set(em.config, cache);
  }
  return cache;
}

/**
 * Whole ListTasks responses, by everything a response is made of: org, board, the board's order of lists,
 * filters, page token and size (the key) and the page's row versions (the digest of "id:stamp" in page order,
 * the row past the page included, checked against PostgreSQL's for every request: boardPageDigest). Same key
 * and same digest: the same tasks at the same row versions in the same order, the same token — the same bytes.
 * Bounded like the task bytes, by two generations.
 */
export interface CachedPage<P> {
  digest: string;
  page: P;
  bytes: number;
}

export class PageCache<P> {
  private young = new Map<string, CachedPage<P>>();
  private old = new Map<string, CachedPage<P>>();
  private youngBytes = 0;

  constructor(readonly maxBytes: number) {}

  get(key: string): CachedPage<P> | undefined {
    const young = this.young.get(key);
    if (young) {
      recordCacheLookup('task_page', true);
      return young;
    }
    const old = this.old.get(key);
    recordCacheLookup('task_page', old !== undefined);
    if (old) this.set(key, old);
    return old;
  }

  set(key: string, entry: CachedPage<P>): void {
    const size = entry.bytes + key.length * 2 + ENTRY_OVERHEAD;
    if (size * 2 > this.maxBytes) return;
    this.young.set(key, entry);
    this.youngBytes += size;
    if (this.youngBytes * 2 > this.maxBytes) {
      this.old = this.young;
      this.young = new Map();
      this.youngBytes = 0;
    }
  }
}

/** Default budget per database for whole pages: ~70 pages of 500 tasks of the usual size. */
export const PAGE_CACHE_BYTES = 32 * 1024 * 1024;

const pageCaches = new WeakMap<object, PageCache<unknown>>();

/** The page cache of the database `em` belongs to. */
export function pageCacheOf<P>(em: EntityManager): PageCache<P> {
  let cache = pageCaches.get(em.config);
  if (!cache) {
    cache = new PageCache(PAGE_CACHE_BYTES);
    pageCaches.set(em.config, cache);
  }
  return cache as PageCache<P>;
}
