import { GenerationalCache } from '@taskmesh/runtime/generational-cache';
import { decodePageToken, pageOf } from '@taskmesh/runtime/paging';
import { BoardPrefixes, encodeTask, listTasksResponseOf, type TaskBytes } from './task-bytes.ts';
import { COL, pageDigestOf, type BoardFilters, type PageCursor, type StoreContext, type TaskRow, type TaskStore } from './task-store.ts';

/** A page of a listing with the ListTasksResponse bytes made of it. */
export interface TaskListing {
  items: TaskBytes[];
  nextPageToken: string;
  response: Buffer;
}

/**
 * The encoded Task message of task row versions, by task id; the version is the row's stamp, "xmin/version":
 * the transaction that wrote this version of the row (every UPDATE writes a new one, whoever runs it) and the
 * task's version. Bytes are only used for the exact row version PostgreSQL just returned for the page, so a
 * change anywhere, by any writer, is a miss, never stale output. Each entry also holds the board it was made
 * for (its BoardPrefixes object, compared by identity) and serves nothing else (defence in depth: task ids
 * never change org or board).
 */
export type TaskBytesCache = GenerationalCache<string, CachedTask, string>;

export interface CachedTask extends TaskBytes {
  /** The org and board the bytes were made for, as the object that holds their name prefixes. */
  board: BoardPrefixes;
}

/**
 * Whole ListTasks responses, by everything a response is made of: org, board, the board's order of lists,
 * filters, page token and size (the key); the version is the digest of the page's row versions ("id:stamp" in
 * page order, the row past the page included), which PostgreSQL computes for every request (boardPageDigest).
 * Same key and same digest: the same tasks at the same row versions in the same order — the same bytes.
 */
export type TaskPageCache = GenerationalCache<string, TaskListing, string>;

export interface ListingCaches {
  pages: TaskPageCache;
  rows: TaskBytesCache;
}

/** The listing caches with these budgets in bytes (0: none). */
export function listingCaches(budgets: { pageBytes: number; rowBytes: number }): ListingCaches {
  return {
    pages: new GenerationalCache({ name: 'task_page', unit: 'bytes', budget: budgets.pageBytes }),
    rows: new GenerationalCache({ name: 'task_bytes', unit: 'bytes', budget: budgets.rowBytes }),
  };
}

/** Bytes an entry is counted for beyond its message: the object, its strings, the map slot. */
const ENTRY_OVERHEAD = 400;

/** Stands for the row past a page: never served, never in a token. */
const NEXT_PAGE: TaskBytes = { id: '', listId: '', position: '', bytes: new Uint8Array(0) };

const bytesOf = (board: BoardPrefixes, row: TaskRow): TaskBytes => ({
  id: row[COL.id]!,
  listId: row[COL.listId]!,
  position: row[COL.position]!,
  bytes: encodeTask(board, row),
});

/**
 * ListTasks' read path: a board's page of tasks as response bytes, through two caches. A whole response is
 * reused while the page holds the same row versions (one digest row read); otherwise the page is read as row
 * versions and each version's bytes are copied from the task-bytes cache or read and encoded now.
 */
export class BoardListing {
  constructor(
    private readonly store: TaskStore,
    private readonly caches: ListingCaches,
  ) {}

  async page(
    ctx: StoreContext,
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters & { listId?: string },
    pageSize: number,
    pageToken: string,
  ): Promise<TaskListing> {
    const fingerprint = JSON.stringify(['tasks', boardId, filters]);
    const after = decodePageToken<[string, string, number]>(pageToken, fingerprint);
    // The cursor names its list; if that list moved since, resume at its new place, if it is gone, at its old index.
    const resume = after && { listIndex: listIds.includes(after[0]) ? listIds.indexOf(after[0]) : after[2], position: after[1] };
    if (resume && !listIds.includes(after[0])) resume.position = '';
    const orgId = ctx.org.id;
    const { pages, rows } = this.caches;
    const key = pages.enabled ? JSON.stringify([orgId, boardId, listIds, fingerprint, pageToken, pageSize]) : '';
    const made = pages.enabled ? await pages.getIfCurrent(key, () => this.store.boardPageDigest(ctx, boardId, listIds, filters, resume, pageSize + 1)) : undefined;
    if (made) return made;
    const known = pages.enabled || rows.enabled ? await this.fromKnownVersions(ctx, boardId, listIds, filters, resume, pageSize) : undefined;
    const board = BoardPrefixes.of(orgId, boardId);
    const tasks = known?.tasks ?? (await this.store.boardPage(ctx, boardId, listIds, filters, resume, pageSize + 1)).map((row) => bytesOf(board, row));
    const page = pageOf(tasks, pageSize, (t) => [t.listId, t.position, listIds.indexOf(t.listId)], fingerprint);
    const listing = { ...page, response: listTasksResponseOf(page.items.map((t) => t.bytes), page.nextPageToken) };
    // Counted twice: the response and the tasks' own bytes, which the kept page holds on to as well.
    if (known && pages.enabled) pages.set(key, listing, known.digest, 2 * listing.response.length + key.length * 2 + ENTRY_OVERHEAD);
    return listing;
  }

  /**
   * The page as its row versions, each version's bytes from the cache or read and encoded now. A task that
   * changed between the two reads makes the page be read again; undefined after three tries (the caller then
   * reads the rows in one statement). Tasks and order are always those of one statement.
   */
  private async fromKnownVersions(
    ctx: StoreContext,
    boardId: string,
    listIds: readonly string[],
    filters: BoardFilters,
    resume: PageCursor,
    pageSize: number,
  ): Promise<{ tasks: TaskBytes[]; digest: string } | undefined> {
    const cache = this.caches.rows;
    const board = BoardPrefixes.of(ctx.org.id, boardId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const versions = await this.store.boardPageVersions(ctx, boardId, listIds, filters, resume, pageSize + 1);
      // The row past the page only says that there is a next page: its id stands in for it.
      const tasks: TaskBytes[] = new Array(versions.length);
      const missing = new Map<string, number>();
      for (let i = 0; i < versions.length; i++) {
        const [id, stamp] = versions[i]! as [string, string];
        if (i === pageSize) tasks[i] = NEXT_PAGE;
        else {
          const known = cache.get(id, stamp);
          if (known !== undefined && known.board === board) tasks[i] = known;
          else missing.set(id, i);
        }
      }
      if (missing.size > 0) {
        for (const { row, stamp } of await this.store.rowsWithStamps(ctx, boardId, [...missing.keys()])) {
          const id = row[COL.id]!;
          const i = missing.get(id)!;
          if (stamp !== versions[i]![1]) continue;
          const entry: CachedTask = { ...bytesOf(board, row), board };
          cache.set(id, entry, stamp, entry.bytes.length + ENTRY_OVERHEAD);
          tasks[i] = entry;
          missing.delete(id);
        }
        // Changed or gone since the page was read: read the page again.
        if (missing.size > 0) continue;
      }
      return { tasks, digest: pageDigestOf(versions) };
    }
    return undefined;
  }
}
