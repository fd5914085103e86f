import { decodePageToken, pageOf } from '@taskmesh/runtime/paging';
import { pageCacheOf, taskBytesCacheOf } from '../task-bytes-cache.ts';
import { BoardPrefixes, encodeTask, listTasksResponseOf, type TaskBytes } from './task-bytes.ts';
import { COL, pageDigestOf, type BoardFilters, type PageCursor, type StoreContext, type TaskRow, type TaskStore } from './task-store.ts';

/** A page of a listing with the ListTasksResponse bytes made of it. */
export interface TaskListing {
  items: TaskBytes[];
  nextPageToken: string;
  response: Buffer;
}

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
  constructor(private readonly store: TaskStore) {}

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
    const pages = pageCacheOf<TaskListing>(ctx.em);
    const key = JSON.stringify([orgId, boardId, listIds, fingerprint, pageToken, pageSize]);
    const made = pages.get(key);
    if (made && made.digest === (await this.store.boardPageDigest(ctx, boardId, listIds, filters, resume, pageSize + 1))) return made.page;
    const known = await this.fromKnownVersions(ctx, boardId, listIds, filters, resume, pageSize);
    const board = BoardPrefixes.of(orgId, boardId);
    const tasks = known?.tasks ?? (await this.store.boardPage(ctx, boardId, listIds, filters, resume, pageSize + 1)).map((row) => bytesOf(board, row));
    const page = pageOf(tasks, pageSize, (t) => [t.listId, t.position, listIds.indexOf(t.listId)], fingerprint);
    const listing = { ...page, response: listTasksResponseOf(page.items.map((t) => t.bytes), page.nextPageToken) };
    // Counted twice: the response and the tasks' own bytes, which the kept page holds on to as well.
    if (known) pages.set(key, { digest: known.digest, page: listing, bytes: 2 * listing.response.length });
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
    const cache = taskBytesCacheOf(ctx.em);
    const board = BoardPrefixes.of(ctx.org.id, boardId);
    for (let attempt = 0; attempt < 3; attempt++) {
      const versions = await this.store.boardPageVersions(ctx, boardId, listIds, filters, resume, pageSize + 1);
      // The row past the page only says that there is a next page: its id stands in for it.
      const tasks: TaskBytes[] = new Array(versions.length);
      const missing = new Map<string, number>();
      for (let i = 0; i < versions.length; i++) {
        const [id, stamp] = versions[i]! as [string, string];
        const known = i < pageSize ? cache.get(id, board, stamp) : NEXT_PAGE;
        if (known) tasks[i] = known;
        else missing.set(id, i);
      }
      if (missing.size > 0) {
        for (const { row, stamp } of await this.store.rowsWithStamps(ctx, boardId, [...missing.keys()])) {
          const id = row[COL.id]!;
          const i = missing.get(id)!;
          if (stamp !== versions[i]![1]) continue;
          const entry = { ...bytesOf(board, row), board, stamp };
          cache.set(id, entry);
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
