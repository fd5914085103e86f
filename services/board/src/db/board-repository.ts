import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BoardRecord, ListRecord } from './entities.ts';

/**
 * Every query on boards and lists. It runs on the EntityManager it is given: a tenant fork (or a transaction
 * of one), so the tenant filter and RLS already confine it to one org; the conditions below add the rest.
 * Deleted boards and lists are never returned, and nothing is returned under a deleted board.
 */
export class BoardRepository {
  constructor(private readonly em: EntityManager) {}

  /** A live board; `lock` takes a row lock for the rest of the transaction. */
  liveBoard(id: string, lock?: 'share' | 'update'): Promise<BoardRecord | null> {
    return this.em.findOne(
      BoardRecord,
      { id, deletedAt: null },
      lock ? { lockMode: lock === 'update' ? LockMode.PESSIMISTIC_WRITE : LockMode.PESSIMISTIC_READ } : {},
    );
  }

  /** Live boards oldest first, after the (createdAt, id) cursor. */
  boardsPage(after: { createdAt: Date; id: string } | undefined, limit: number): Promise<BoardRecord[]> {
    const where = after
      ? {
          deletedAt: null,
          $or: [{ createdAt: { $gt: after.createdAt } }, { createdAt: after.createdAt, id: { $gt: after.id } }],
        }
      : { deletedAt: null };
    return this.em.find(BoardRecord, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit });
  }

  /** The board this creator made with this request id, deleted or not (a retry must not create a second one). */
  boardByRequest(createdBy: string, requestId: string): Promise<BoardRecord | null> {
    return this.em.findOne(BoardRecord, { createdBy, createRequestId: requestId });
  }

  /** A live list of a live board. */
  async liveList(boardId: string, id: string, lock?: 'update'): Promise<ListRecord | null> {
    const board = await this.liveBoard(boardId, lock ? 'share' : undefined);
    if (!board) return null;
    return this.em.findOne(
      ListRecord,
      { id, boardId, deletedAt: null },
      lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {},
    );
  }

  /** A live list, when the caller has just seen its board live in the same transaction. */
  listOfLiveBoard(boardId: string, id: string): Promise<ListRecord | null> {
    return this.em.findOne(ListRecord, { id, boardId, deletedAt: null });
  }

  /** Live lists of a board in board order, after the given position. */
  listsPage(boardId: string, afterPosition: string | undefined, limit: number): Promise<ListRecord[]> {
    const where = afterPosition === undefined
      ? { boardId, deletedAt: null }
      : { boardId, deletedAt: null, position: { $gt: afterPosition } };
    return this.em.find(ListRecord, where, { orderBy: { position: 'asc' }, limit });
  }

  listByRequest(boardId: string, createdBy: string, requestId: string): Promise<ListRecord | null> {
    return this.em.findOne(ListRecord, { boardId, createdBy, createRequestId: requestId });
  }

  /** Positions of the board's live lists except one, ascending: the neighbours a placement chooses from. */
  async positionsExcept(boardId: string, exceptId: string | undefined): Promise<string[]> {
    const where = exceptId
      ? { boardId, deletedAt: null, id: { $ne: exceptId } }
      : { boardId, deletedAt: null };
    const rows = await this.em.find(ListRecord, where, { fields: ['position'], orderBy: { position: 'asc' } });
    return rows.map((row) => row.position);
  }
}
