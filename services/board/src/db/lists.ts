import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { ListCreated, ListDeleted, ListMoved, ListUpdated } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import type { FieldChange } from '@taskmesh/gen/taskmesh/events/v1/field_change.js';
import { AbortedError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { assertFreshEtag, displayNameViolation, fieldsToUpdate, rejectViolations } from '../domain/board-rules.ts';
import { gapFor, orderKeyBetween, type Placement } from '../domain/list-order.ts';
import { boardEvent } from '../events/board-events.ts';
import { listMessage, listNameOf, type BoardRef, type ListRef } from '../mapping.ts';
import { notFoundBoard } from './boards.ts';
import { BoardRepository } from './board-repository.ts';
import { ListRecord } from './entities.ts';

/** Counts a list's tasks in the task service (CountListTasks); called before any transaction is opened. */
export type ListTaskCounter = (list: string) => Promise<number>;

/** Attempts at a transaction that lost a race for an order key before giving up with ABORTED. */
const ORDER_KEY_ATTEMPTS = 8;

const LIST_FIELDS = ['display_name'] as const;

function notFoundList(ref: ListRef): NotFoundError {
  return new NotFoundError(listNameOf(ref.orgId, ref.boardId, ref.listId));
}

/**
 * The list aggregate's use cases (ordered lists of a board), on the TenantContext's EntityManager. Calls to
 * the task service happen before the transaction opens, never inside it.
 */
export class Lists {
  async createList(tc: TenantContext, ref: BoardRef, input: { displayName: string; requestId?: string }): Promise<ListRecord> {
    rejectViolations([displayNameViolation(input.displayName, 'list.display_name')]);
    const repo = new BoardRepository(tc.em);
    if (!(await repo.liveBoard(ref.boardId))) throw notFoundBoard(ref);
    if (input.requestId) {
      const earlier = await repo.listByRequest(ref.boardId, tc.principal.userId, input.requestId);
      if (earlier) return this.unlessGone(ref, earlier);
    }
    return this.withOrderKeyRetry(tc, async () => {
      if (input.requestId) {
        const earlier = await new BoardRepository(tc.em).listByRequest(ref.boardId, tc.principal.userId, input.requestId);
        if (earlier) return this.unlessGone(ref, earlier);
      }
      return tc.em.transactional(async (tx) => {
        const txRepo = new BoardRepository(tx);
        // A share lock on the board: a concurrent DeleteBoard waits for this list, or this waits for it.
        if (!(await txRepo.liveBoard(ref.boardId, 'share'))) throw notFoundBoard(ref);
        const position = orderKeyBetween(gapFor({ end: true }, await txRepo.positionsExcept(ref.boardId, undefined)));
        const now = new Date();
        const list = tx.create(ListRecord, {
          id: randomUUID(),
          orgId: tc.org.id,
          boardId: ref.boardId,
          displayName: input.displayName.trim(),
          position,
          version: 1,
          createdBy: tc.principal.userId,
          createRequestId: input.requestId ?? null,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
        });
        recordEvent(tx, boardEvent(tc, 'ListCreated', ListCreated, { list: listMessage(list) }, listNameOf(tc.org.id, ref.boardId, list.id)));
        return list;
      });
    });
  }


  /** A list found by request id that has since been deleted is gone like any other. */
  private unlessGone(ref: BoardRef, list: ListRecord): ListRecord {
    if (list.deletedAt) throw notFoundList({ ...ref, listId: list.id });
    return list;
  }

  async listLists(tc: TenantContext, ref: BoardRef, page: { pageSize: number; pageToken: string }): Promise<{ lists: ListRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `lists:${ref.boardId}`;
    const after = decodePageToken<string>(page.pageToken, query);
    if (after !== undefined && typeof after !== 'string') {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const repo = new BoardRepository(tc.em);
    if (!(await repo.liveBoard(ref.boardId))) throw notFoundBoard(ref);
    const rows = await repo.listsPage(ref.boardId, after, size + 1);
    const { items, nextPageToken } = pageOf(rows, size, (l) => l.position, query);
    return { lists: items, nextPageToken };
  }

  async updateList(
    tc: TenantContext,
    ref: ListRef,
    input: { displayName: string; etag: string; updateMask: string[] | undefined },
  ): Promise<ListRecord> {
    const fields = fieldsToUpdate(input.updateMask, LIST_FIELDS, { display_name: input.displayName !== '' });
    rejectViolations([fields.includes('display_name') ? displayNameViolation(input.displayName, 'list.display_name') : undefined]);
    return tc.em.transactional(async (tx) => {
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
      recordEvent(tx, boardEvent(tc, 'ListUpdated', ListUpdated, { list: listMessage(list), changes }, listNameOf(tc.org.id, ref.boardId, list.id)));
      return list;
    });
  }

  /**
   * Without force, the list must hold no task (archived ones included): the task service is asked before the
   * transaction opens. With force, the task service deletes the list's tasks when it sees ListDeleted{forced}.
   */
  async deleteList(tc: TenantContext, ref: ListRef, input: { force: boolean; etag: string }, countTasks: ListTaskCounter): Promise<void> {
    const name = listNameOf(ref.orgId, ref.boardId, ref.listId);
    const existing = await new BoardRepository(tc.em).liveList(ref.boardId, ref.listId);
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
    await tc.em.transactional(async (tx) => {
      const list = await new BoardRepository(tx).liveList(ref.boardId, ref.listId, 'update');
      if (!list) throw notFoundList(ref);
      assertFreshEtag(input.etag, list.version, 'the list');
      const now = new Date();
      list.deletedAt = now;
      list.updatedAt = now;
      list.version += 1;
      recordEvent(tx, boardEvent(tc, 'ListDeleted', ListDeleted, { list: name, displayName: list.displayName, forced: input.force }, name));
    });
  }

  async moveList(tc: TenantContext, ref: ListRef, input: { placement: Placement; etag: string }): Promise<ListRecord> {
    const anchorId = 'before' in input.placement ? input.placement.before : 'after' in input.placement ? input.placement.after : undefined;
    const anchorField = 'before' in input.placement ? 'before_list' : 'after_list';
    if (anchorId === ref.listId) {
      throw new InvalidArgumentError({ field: anchorField, description: 'must name another list than the one moved' });
    }
    return this.withOrderKeyRetry(tc, () =>
      tc.em.transactional(async (tx) => {
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
          boardEvent(tc, 'ListMoved', ListMoved, { list: listMessage(list), oldPosition, newPosition: list.position }, listNameOf(tc.org.id, ref.boardId, list.id)),
        );
        return list;
      }),
    );
  }

  /**
   * Runs a transaction that picks an order key again when it lost the unique (org, board, position) race to a
   * concurrent one; each attempt reads fresh neighbours.
   */
  private async withOrderKeyRetry<T>(tc: TenantContext, attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof UniqueConstraintViolationException)) throw err;
        tc.em.clear();
        if (i >= ORDER_KEY_ATTEMPTS) {
          throw new AbortedError('too many concurrent changes to this board; try again', { reason: 'CONCURRENT_MODIFICATION' });
        }
      }
    }
  }
}
