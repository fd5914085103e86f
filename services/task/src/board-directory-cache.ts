import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import type { BoardDirectory } from './board-directory.ts';
import { recordCacheLookup } from '@taskmesh/runtime/cache-metrics';

/**
 * The board service's answers, kept for a short while. Every task RPC asks CheckBoardList and every board
 * listing asks ListLists, so without this each task read costs a second gRPC call and a database transaction in
 * the board service (measured in docs/benchmarks-history.md, 1).
 *
 * Only positive answers are kept ("this board is live", "this list is one of its live lists", "its live lists
 * in this order"); a NOT_FOUND or a failure is never cached. Entries are per board and live at most `ttlMs`.
 * Every board event that can change an answer (board deleted, list created, moved or deleted, organization
 * deleted) evicts the board's entry when it reaches this replica, so the window in which a deleted board's tasks
 * can still be served is the event's trip from the board service's outbox to this process (relay + bus), and
 * never more than `ttlMs` when events are held up (NATS down, relay stalled). A check that sees a live list
 * missing from the cached order drops the order, so a list created through this replica's caller shows up
 * at once.
 */
export interface BoardDirectoryCache extends BoardDirectory {
  /** Forgets what is known of one board. */
  evictBoard(orgId: string, boardId: string): void;
  /** Forgets every board of an organization. */
  evictOrganization(orgId: string): void;
  /** Applies a board or org event (see BOARD_CACHE_EVENT_TYPES). */
  evictFor(event: Pick<EventEnvelope, 'type' | 'resource' | 'organization'>): void;
  size(): number;
}

/** Events after which a cached answer may be wrong. BoardCreated/Updated and ListUpdated change none. */
export const BOARD_CACHE_EVENT_TYPES = [
  'taskmesh.board.v1.BoardDeleted',
  'taskmesh.board.v1.ListCreated',
  'taskmesh.board.v1.ListMoved',
  'taskmesh.board.v1.ListDeleted',
  'taskmesh.org.v1.OrganizationDeleted',
] as const;

interface BoardEntry {
  expiresAt: number;
  /** Board check ('' key) and list checks, by list id. */
  checks: Map<string, Promise<{ listExists: boolean }>>;
  order?: Promise<string[]>;
}

const BOARD_RESOURCE = /^organizations\/([^/]+)\/boards\/([^/]+)/;
const ORG_RESOURCE = /^organizations\/([^/]+)$/;

export function cachedBoardDirectory(
  inner: BoardDirectory,
  options: { ttlMs: number; maxBoards?: number; now?: () => number },
): BoardDirectory & BoardDirectoryCache {
  const now = options.now ?? Date.now;
  const maxBoards = options.maxBoards ?? 10_000;
  const boards = new Map<string, BoardEntry>();
  const keyOf = (orgId: string, boardId: string) => `${orgId}/${boardId}`;

  const entryFor = (orgId: string, boardId: string): BoardEntry | undefined => {
    if (options.ttlMs <= 0) return undefined;
    const key = keyOf(orgId, boardId);
    const existing = boards.get(key);
    if (existing && existing.expiresAt > now()) return existing;
    boards.delete(key);
    // Oldest first: Map keeps insertion order.
    if (boards.size >= maxBoards) boards.delete(boards.keys().next().value!);
    const entry: BoardEntry = { expiresAt: now() + options.ttlMs, checks: new Map() };
    boards.set(key, entry);
    return entry;
  };

  /**
   * Shares one call among concurrent askers; a rejected call is forgotten so the next asker tries again, and a
   * board left with nothing known is dropped.
   */
  const remember = <T>(orgId: string, boardId: string, entry: BoardEntry, promise: Promise<T>, forget: () => void): Promise<T> => {
    promise.catch(() => {
      forget();
      const key = keyOf(orgId, boardId);
      if (entry.checks.size === 0 && !entry.order && boards.get(key) === entry) boards.delete(key);
    });
    return promise;
  };

  const cache: BoardDirectoryCache = {
    check(orgId, boardId, listId) {
      const entry = entryFor(orgId, boardId);
      if (!entry) return inner.check(orgId, boardId, listId);
      const key = listId ?? '';
      let answer = entry.checks.get(key);
      recordCacheLookup('board_directory', answer !== undefined);
      if (!answer) {
        answer = remember(orgId, boardId, entry, inner.check(orgId, boardId, listId), () => {
          if (entry.checks.get(key) === answer) entry.checks.delete(key);
        });
        entry.checks.set(key, answer);
        if (listId) {
          const order = entry.order;
          // A live list the cached order does not know was created since: read the order again next time.
          void answer.then(async ({ listExists }) => {
            if (listExists && order && entry.order === order && !(await order.catch(() => [listId])).includes(listId)) {
              if (entry.order === order) delete entry.order;
            }
          }, () => undefined);
        }
      }
      return answer;
    },
    listIdsInOrder(orgId, boardId, authorization) {
      const entry = entryFor(orgId, boardId);
      if (!entry) return inner.listIdsInOrder(orgId, boardId, authorization);
      // The order is the board's, the same for every member: the task service has already checked the caller's
      // membership, and the board service checks it again on the first read.
      if (!entry.order) {
        const order = remember(orgId, boardId, entry, inner.listIdsInOrder(orgId, boardId, authorization), () => {
          if (entry.order === order) delete entry.order;
        });
        entry.order = order;
      }
      return entry.order.then((ids) => [...ids]);
    },
    evictBoard(orgId, boardId) {
      boards.delete(keyOf(orgId, boardId));
    },
    evictOrganization(orgId) {
      const prefix = `${orgId}/`;
      for (const key of boards.keys()) if (key.startsWith(prefix)) boards.delete(key);
    },
    evictFor(event) {
      const board = BOARD_RESOURCE.exec(event.resource);
      if (board) return cache.evictBoard(board[1]!, board[2]!);
      const org = ORG_RESOURCE.exec(event.resource) ?? ORG_RESOURCE.exec(event.organization);
      if (org) cache.evictOrganization(org[1]!);
    },
    size: () => boards.size,
  };
  return cache;
}
