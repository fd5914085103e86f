import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import { GenerationalCache } from '@taskmesh/runtime/generational-cache';
import type { BoardDirectory } from './board-directory.ts';

/**
 * The board service's answers, kept for a short while. Every task RPC asks CheckBoardList and every board
 * listing asks ListLists, so without this each task read costs a second gRPC call and a database transaction in
 * the board service (measured in docs/benchmarks-history.md, 1).
 *
 * Only positive answers are kept ("this board is live", "this list is one of its live lists", "its live lists
 * in this order"); a NOT_FOUND or a failure is never cached. Entries are per board, in a cache budgeted in
 * boards whose maximum age is the ttl (boardAnswerCache).
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

/** What is known of one board. */
export interface BoardEntry {
  /** Board check ('' key) and list checks, by list id. */
  checks: Map<string, Promise<{ listExists: boolean }>>;
  order?: Promise<string[]>;
}

const BOARD_RESOURCE = /^organizations\/([^/]+)\/boards\/([^/]+)/;
const ORG_RESOURCE = /^organizations\/([^/]+)$/;

/** The cache of board answers: at most `maxBoards` boards, each for at most `ttlMs` (either 0: no cache). */
export function boardAnswerCache(options: { maxBoards: number; ttlMs: number; now?: () => number }): GenerationalCache<string, BoardEntry> {
  return new GenerationalCache<string, BoardEntry>({
    name: 'board_directory',
    unit: 'entries',
    budget: options.maxBoards,
    maxAgeMs: options.ttlMs,
    ...(options.now ? { now: options.now } : {}),
  });
}

/** `inner` answered from `boards` (made by boardAnswerCache) where it can be. */
export function cachedBoardDirectory(inner: BoardDirectory, boards: GenerationalCache<string, BoardEntry>): BoardDirectoryCache {
  const keyOf = (orgId: string, boardId: string) => `${orgId}/${boardId}`;

  const entryFor = (orgId: string, boardId: string): BoardEntry | undefined => {
    if (!boards.enabled) return undefined;
    const key = keyOf(orgId, boardId);
    let entry = boards.find(key);
    if (!entry) {
      entry = { checks: new Map() };
      boards.set(key, entry, undefined);
    }
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
      if (entry.checks.size === 0 && !entry.order && boards.find(key) === entry) boards.delete(key);
    });
    return promise;
  };

  const cache: BoardDirectoryCache = {
    check(orgId, boardId, listId) {
      const entry = entryFor(orgId, boardId);
      if (!entry) return inner.check(orgId, boardId, listId);
      const key = listId ?? '';
      let answer = entry.checks.get(key);
      boards.countLookup(answer !== undefined);
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
      boards.deleteWhere((key) => key.startsWith(prefix));
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
