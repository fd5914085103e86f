import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { BoardCreated, BoardDeleted, BoardUpdated } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import type { FieldChange } from '@taskmesh/gen/taskmesh/events/v1/field_change.js';
import { InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { assertFreshEtag, descriptionViolation, displayNameViolation, fieldsToUpdate, rejectViolations } from '../domain/board-rules.ts';
import { boardEvent } from '../events/board-events.ts';
import { boardMessage, boardNameOf, type BoardRef } from '../mapping.ts';
import { BoardRepository } from './board-repository.ts';
import { BoardRecord } from './entities.ts';

const BOARD_FIELDS = ['display_name', 'description'] as const;

export function notFoundBoard(ref: BoardRef): NotFoundError {
  return new NotFoundError(boardNameOf(ref.orgId, ref.boardId));
}

/**
 * The board aggregate's use cases, on the TenantContext's EntityManager. Each change writes its row and its
 * domain event in one transaction (the outbox); the relay is nudged by the ORM's commit hook.
 */
export class Boards {
  async createBoard(tc: TenantContext, input: { displayName: string; description: string; requestId?: string }): Promise<BoardRecord> {
    rejectViolations([
      displayNameViolation(input.displayName, 'board.display_name'),
      descriptionViolation(input.description, 'board.description'),
    ]);
    const repo = new BoardRepository(tc.em);
    if (input.requestId) {
      const earlier = await repo.boardByRequest(tc.principal.userId, input.requestId);
      if (earlier) return this.boardUnlessGone(earlier);
    }
    try {
      return await tc.em.transactional(async (tx) => {
        const now = new Date();
        const board = tx.create(BoardRecord, {
          id: randomUUID(),
          orgId: tc.org.id,
          displayName: input.displayName.trim(),
          description: input.description,
          version: 1,
          createdBy: tc.principal.userId,
          createRequestId: input.requestId ?? null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        recordEvent(tx, boardEvent(tc, 'BoardCreated', BoardCreated, { board: boardMessage(board) }, boardNameOf(tc.org.id, board.id)));
        return board;
      });
    } catch (err) {
      // A concurrent retry with the same request id won the insert: answer with its board.
      if (err instanceof UniqueConstraintViolationException && input.requestId) {
        const earlier = await new BoardRepository(tc.em).boardByRequest(tc.principal.userId, input.requestId);
        if (earlier) return this.boardUnlessGone(earlier);
      }
      throw err;
    }
  }

  async listBoards(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<{ boards: BoardRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = 'boards';
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const cursor = after ? { createdAt: new Date(after[0]), id: after[1] } : undefined;
    if (cursor && Number.isNaN(cursor.createdAt.getTime())) {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const rows = await new BoardRepository(tc.em).boardsPage(cursor, size + 1);
    const { items, nextPageToken } = pageOf(rows, size, (b) => [b.createdAt.toISOString(), b.id], query);
    return { boards: items, nextPageToken };
  }

  async getBoard(tc: TenantContext, ref: BoardRef): Promise<BoardRecord> {
    const board = await new BoardRepository(tc.em).liveBoard(ref.boardId);
    if (!board) throw notFoundBoard(ref);
    return board;
  }

  async updateBoard(
    tc: TenantContext,
    ref: BoardRef,
    input: { displayName: string; description: string; etag: string; updateMask: string[] | undefined },
  ): Promise<BoardRecord> {
    const fields = fieldsToUpdate(input.updateMask, BOARD_FIELDS, {
      display_name: input.displayName !== '',
      description: input.description !== '',
    });
    rejectViolations([
      fields.includes('display_name') ? displayNameViolation(input.displayName, 'board.display_name') : undefined,
      fields.includes('description') ? descriptionViolation(input.description, 'board.description') : undefined,
    ]);
    return tc.em.transactional(async (tx) => {
      const board = await new BoardRepository(tx).liveBoard(ref.boardId, 'update');
      if (!board) throw notFoundBoard(ref);
      assertFreshEtag(input.etag, board.version, 'the board');
      const changes: FieldChange[] = [];
      if (fields.includes('display_name') && board.displayName !== input.displayName.trim()) {
        changes.push({ field: 'display_name', oldValue: board.displayName, newValue: input.displayName.trim() });
        board.displayName = input.displayName.trim();
      }
      if (fields.includes('description') && board.description !== input.description) {
        changes.push({ field: 'description', oldValue: board.description, newValue: input.description });
        board.description = input.description;
      }
      // Nothing changed: no new version, no event; the client gets the board as it is.
      if (changes.length === 0) return board;
      board.version += 1;
      board.updatedAt = new Date();
      recordEvent(tx, boardEvent(tc, 'BoardUpdated', BoardUpdated, { board: boardMessage(board), changes }, boardNameOf(tc.org.id, board.id)));
      return board;
    });
  }

  async deleteBoard(tc: TenantContext, ref: BoardRef, etag: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      const board = await new BoardRepository(tx).liveBoard(ref.boardId, 'update');
      if (!board) throw notFoundBoard(ref);
      assertFreshEtag(etag, board.version, 'the board');
      const now = new Date();
      board.deletedAt = now;
      board.updatedAt = now;
      board.version += 1;
      recordEvent(
        tx,
        boardEvent(tc, 'BoardDeleted', BoardDeleted, { board: boardNameOf(tc.org.id, board.id), displayName: board.displayName }, boardNameOf(tc.org.id, board.id)),
      );
    });
  }


  /** A board found by request id that has since been deleted is gone like any other; the retry does not revive it. */
  private boardUnlessGone(board: BoardRecord): BoardRecord {
    if (board.deletedAt) throw notFoundBoard({ orgId: board.orgId, boardId: board.id });
    return board;
  }


  /** For the task service: the live board, and whether `listId` is one of its live lists. */
  async checkBoardList(em: EntityManager, ref: BoardRef, listId: string | undefined): Promise<{ board: BoardRecord; listExists: boolean }> {
    // On the hot path of every task write: one short transaction (the RLS variable is set once) and two reads.
    return em.transactional(async (tx) => {
      const repo = new BoardRepository(tx);
      const board = await repo.liveBoard(ref.boardId);
      if (!board) throw notFoundBoard(ref);
      const listExists = listId !== undefined && (await repo.listOfLiveBoard(ref.boardId, listId)) !== null;
      return { board, listExists };
    });
  }

}
