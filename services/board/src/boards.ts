import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import {
  BoardCreated,
  BoardDeleted,
  BoardUpdated,
  ListCreated,
  ListDeleted,
  ListMoved,
  ListUpdated,
} from '@taskmesh/gen/taskmesh/board/v1/events.js';
import type { FieldChange } from '@taskmesh/gen/taskmesh/events/v1/field_change.js';
import { AbortedError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { domainEvent, recordEvent, type DomainEvent, type MessageCodec } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { boardMessage, listMessage } from './board-messages.ts';
import { BoardRepository } from './db/board-repository.ts';
import { BoardRecord, ListRecord } from './db/entities.ts';
import {
  assertFreshEtag,
  descriptionViolation,
  displayNameViolation,
  fieldsToUpdate,
  rejectViolations,
} from './domain/board-rules.ts';
import { gapFor, orderKeyBetween, type Placement } from './domain/list-order.ts';
import { boardNameOf, listNameOf, userNameOf, type BoardRef, type ListRef } from './resource-names.ts';

/** Who acts, where: the org-bound EntityManager from the org-context chain and the caller. */
export interface Actor {
  em: EntityManager;
  orgId: string;
  userId: string;
}

/** Counts a list's tasks in the task service (CountListTasks); called before any transaction is opened. */
export type ListTaskCounter = (list: string) => Promise<number>;

/** Attempts at a transaction that lost a race for an order key before giving up with ABORTED. */
const ORDER_KEY_ATTEMPTS = 8;

const BOARD_FIELDS = ['display_name', 'description'] as const;
const LIST_FIELDS = ['display_name'] as const;

function notFoundBoard(ref: BoardRef): NotFoundError {
  return new NotFoundError(boardNameOf(ref.orgId, ref.boardId));
}
function notFoundList(ref: ListRef): NotFoundError {
  return new NotFoundError(listNameOf(ref.orgId, ref.boardId, ref.listId));
}

/**
 * The board service's use cases. Each mutation writes its change and its domain event in one transaction
 * (the outbox); calls to other services happen before the transaction opens, never inside it.
 */
export class Boards {
  private event<T>(actor: Actor, type: string, codec: MessageCodec<T>, payload: T, resource: string): DomainEvent {
    return domainEvent(`taskmesh.board.v1.${type}`, codec, payload, {
      resource,
      organization: `organizations/${actor.orgId}`,
      actor: userNameOf(actor.userId),
    });
  }

  async createBoard(actor: Actor, input: { displayName: string; description: string; requestId?: string }): Promise<BoardRecord> {
    rejectViolations([
      displayNameViolation(input.displayName, 'board.display_name'),
      descriptionViolation(input.description, 'board.description'),
    ]);
    const repo = new BoardRepository(actor.em);
    if (input.requestId) {
      const earlier = await repo.boardByRequest(actor.userId, input.requestId);
      if (earlier) return this.boardUnlessGone(earlier);
    }
    try {
      return await this.transact(actor, async (tx) => {
        const now = new Date();
        const board = tx.create(BoardRecord, {
          id: randomUUID(),
          orgId: actor.orgId,
          displayName: input.displayName.trim(),
          description: input.description,
          version: 1,
          createdBy: actor.userId,
          createRequestId: input.requestId ?? null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        recordEvent(tx, this.event(actor, 'BoardCreated', BoardCreated, { board: boardMessage(board) }, boardNameOf(actor.orgId, board.id)));
        return board;
      });
    } catch (err) {
      // A concurrent retry with the same request id won the insert: answer with its board.
      if (err instanceof UniqueConstraintViolationException && input.requestId) {
        const earlier = await new BoardRepository(actor.em).boardByRequest(actor.userId, input.requestId);
        if (earlier) return this.boardUnlessGone(earlier);
      }
      throw err;
    }
  }

  async listBoards(actor: Actor, page: { pageSize: number; pageToken: string }): Promise<{ boards: BoardRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = 'boards';
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const cursor = after ? { createdAt: new Date(after[0]), id: after[1] } : undefined;
    if (cursor && Number.isNaN(cursor.createdAt.getTime())) {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const rows = await new BoardRepository(actor.em).boardsPage(cursor, size + 1);
    const { items, nextPageToken } = pageOf(rows, size, (b) => [b.createdAt.toISOString(), b.id], query);
    return { boards: items, nextPageToken };
  }

  async getBoard(actor: Actor, ref: BoardRef): Promise<BoardRecord> {
    const board = await new BoardRepository(actor.em).liveBoard(ref.boardId);
    if (!board) throw notFoundBoard(ref);
    return board;
  }

  async updateBoard(
    actor: Actor,
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
    return this.transact(actor, async (tx) => {
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
      recordEvent(tx, this.event(actor, 'BoardUpdated', BoardUpdated, { board: boardMessage(board), changes }, boardNameOf(actor.orgId, board.id)));
      return board;
    });
  }

  async deleteBoard(actor: Actor, ref: BoardRef, etag: string): Promise<void> {
    await this.transact(actor, async (tx) => {
      const board = await new BoardRepository(tx).liveBoard(ref.boardId, 'update');
      if (!board) throw notFoundBoard(ref);
      assertFreshEtag(etag, board.version, 'the board');
      const now = new Date();
      board.deletedAt = now;
      board.updatedAt = now;
      board.version += 1;
      recordEvent(
        tx,
        this.event(actor, 'BoardDeleted', BoardDeleted, { board: boardNameOf(actor.orgId, board.id), displayName: board.displayName }, boardNameOf(actor.orgId, board.id)),
      );
    });
  }

  async createList(actor: Actor, ref: BoardRef, input: { displayName: string; requestId?: string }): Promise<ListRecord> {
    rejectViolations([displayNameViolation(input.displayName, 'list.display_name')]);
    const repo = new BoardRepository(actor.em);
    if (!(await repo.liveBoard(ref.boardId))) throw notFoundBoard(ref);
    if (input.requestId) {
      const earlier = await repo.listByRequest(ref.boardId, actor.userId, input.requestId);
      if (earlier) return this.unlessGone(ref, earlier);
    }
    return this.withOrderKeyRetry(actor, async () => {
      if (input.requestId) {
        const earlier = await new BoardRepository(actor.em).listByRequest(ref.boardId, actor.userId, input.requestId);
        if (earlier) return this.unlessGone(ref, earlier);
      }
      return this.transact(actor, async (tx) => {
        const txRepo = new BoardRepository(tx);
        // A share lock on the board: a concurrent DeleteBoard waits for this list, or this waits for it.
        if (!(await txRepo.liveBoard(ref.boardId, 'share'))) throw notFoundBoard(ref);
        const position = orderKeyBetween(gapFor({ end: true }, await txRepo.positionsExcept(ref.boardId, undefined)));
        const now = new Date();
        const list = tx.create(ListRecord, {
          id: randomUUID(),
          orgId: actor.orgId,
          boardId: ref.boardId,
          displayName: input.displayName.trim(),
          position,
          version: 1,
          createdBy: actor.userId,
          createRequestId: input.requestId ?? null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        recordEvent(tx, this.event(actor, 'ListCreated', ListCreated, { list: listMessage(list) }, listNameOf(actor.orgId, ref.boardId, list.id)));
        return list;
      });
    });
  }

  /** A board found by request id that has since been deleted is gone like any other; the retry does not revive it. */
  private boardUnlessGone(board: BoardRecord): BoardRecord {
    if (board.deletedAt) throw notFoundBoard({ orgId: board.orgId, boardId: board.id });
    return board;
  }

  /** A list found by request id that has since been deleted is gone like any other. */
  private unlessGone(ref: BoardRef, list: ListRecord): ListRecord {
    if (list.deletedAt) throw notFoundList({ ...ref, listId: list.id });
    return list;
  }

  async listLists(actor: Actor, ref: BoardRef, page: { pageSize: number; pageToken: string }): Promise<{ lists: ListRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `lists:${ref.boardId}`;
    const after = decodePageToken<string>(page.pageToken, query);
    if (after !== undefined && typeof after !== 'string') {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const repo = new BoardRepository(actor.em);
    if (!(await repo.liveBoard(ref.boardId))) throw notFoundBoard(ref);
    const rows = await repo.listsPage(ref.boardId, after, size + 1);
    const { items, nextPageToken } = pageOf(rows, size, (l) => l.position, query);
    return { lists: items, nextPageToken };
  }

  async updateList(
    actor: Actor,
    ref: ListRef,
    input: { displayName: string; etag: string; updateMask: string[] | undefined },
  ): Promise<ListRecord> {
    const fields = fieldsToUpdate(input.updateMask, LIST_FIELDS, { display_name: input.displayName !== '' });
    rejectViolations([fields.includes('display_name') ? displayNameViolation(input.displayName, 'list.display_name') : undefined]);
    return this.transact(actor, async (tx) => {
      const list = await new BoardRepository(tx).liveList(ref.boardId, ref.listId, 'update');
      if (!list) throw notFoundList(ref);
      assertFreshEtag(input.etag, list.version, 'the list');
      const changes: FieldChange[] = [];
      if (fields.includes('display_name') && list.displayName !== input.displayName.trim()) {
        changes.push({ field: 'display_name', oldValue: list.displayName, newValue: input.displayName.trim() });
        list.displayName = input.displayName.trim();
      }
      if (changes.length === 0) return list;
      list.version += 1;
      list.updatedAt = new Date();
      recordEvent(tx, this.event(actor, 'ListUpdated', ListUpdated, { list: listMessage(list), changes }, listNameOf(actor.orgId, ref.boardId, list.id)));
      return list;
    });
  }

  /**
   * Without force, the list must hold no task (archived ones included): the task service is asked before the
   * transaction opens. With force, the task service deletes the list's tasks when it sees ListDeleted{forced}.
   */
  async deleteList(actor: Actor, ref: ListRef, input: { force: boolean; etag: string }, countTasks: ListTaskCounter): Promise<void> {
    const name = listNameOf(ref.orgId, ref.boardId, ref.listId);
    const existing = await new BoardRepository(actor.em).liveList(ref.boardId, ref.listId);
    if (!existing) throw notFoundList(ref);
    assertFreshEtag(input.etag, existing.version, 'the list');
    if (!input.force) {
      const count = await countTasks(name);
      if (count > 0) {
        throw new FailedPreconditionError(`the list still holds ${count} task(s); move them or delete with force`, {
          reason: 'LIST_NOT_EMPTY',
          metadata: { taskCount: String(count) },
        });
      }
    }
    await this.transact(actor, async (tx) => {
      const list = await new BoardRepository(tx).liveList(ref.boardId, ref.listId, 'update');
      if (!list) throw notFoundList(ref);
      assertFreshEtag(input.etag, list.version, 'the list');
      const now = new Date();
      list.deletedAt = now;
      list.updatedAt = now;
      list.version += 1;
      recordEvent(tx, this.event(actor, 'ListDeleted', ListDeleted, { list: name, displayName: list.displayName, forced: input.force }, name));
    });
  }

  async moveList(actor: Actor, ref: ListRef, input: { placement: Placement; etag: string }): Promise<ListRecord> {
    const anchorId = 'before' in input.placement ? input.placement.before : 'after' in input.placement ? input.placement.after : undefined;
    const anchorField = 'before' in input.placement ? 'before_list' : 'after_list';
    if (anchorId === ref.listId) {
      throw new InvalidArgumentError({ field: anchorField, description: 'must name another list than the one moved' });
    }
    return this.withOrderKeyRetry(actor, () =>
      this.transact(actor, async (tx) => {
        const repo = new BoardRepository(tx);
        const list = await repo.liveList(ref.boardId, ref.listId, 'update');
        if (!list) throw notFoundList(ref);
        assertFreshEtag(input.etag, list.version, 'the list');
        let anchor: string | undefined;
        if (anchorId !== undefined) {
          const anchorList = await repo.liveList(ref.boardId, anchorId);
          if (!anchorList) throw new InvalidArgumentError({ field: anchorField, description: 'must name a list of the same board' });
          anchor = anchorList.position;
        }
        const oldPosition = list.position;
        list.position = orderKeyBetween(gapFor(input.placement, await repo.positionsExcept(ref.boardId, list.id), anchor));
        list.version += 1;
        list.updatedAt = new Date();
        recordEvent(
          tx,
          this.event(actor, 'ListMoved', ListMoved, { list: listMessage(list), oldPosition, newPosition: list.position }, listNameOf(actor.orgId, ref.boardId, list.id)),
        );
        return list;
      }),
    );
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

  /** One unit of work with its events (the relay is nudged by the commit: it listens on the ORM's events). */
  private transact<T>(actor: Actor, work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return actor.em.transactional(work);
  }

  /**
   * Runs a transaction that picks an order key again when it lost the unique (org, board, position) race to a
   * concurrent one; each attempt reads fresh neighbours.
   */
  private async withOrderKeyRetry<T>(actor: Actor, attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException)) throw err;
        actor.em.clear();
        if (i >= ORDER_KEY_ATTEMPTS) {
          throw new AbortedError('too many concurrent changes to this board; try again', { reason: 'CONCURRENT_MODIFICATION' });
        }
      }
    }
  }
}
