import type { EntityManager } from '@mikro-orm/postgresql';
import { ListDeleted } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import type { EventHandler } from '@taskmesh/runtime/events/event-bus';
import { processOnce } from '@taskmesh/runtime/events/processed-events';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { enterOrgInTransaction } from '@taskmesh/runtime/tenancy';
import { recordTaskDeleted } from './task-events.ts';

/** Durable consumer name of the task service (shared by its replicas: each event is handled once). */
export const TASK_CONSUMER = 'task';
export const CONSUMED_EVENT_TYPES = ['taskmesh.board.v1.ListDeleted'];

/**
 * A deleted list takes its tasks (and their comments) with it. With force the board service checks nothing
 * with us and leaves the clean-up to this consumer; without force it checked the list was empty, but a task
 * created between that check and the delete would otherwise be orphaned, so every ListDeleted clears the
 * list. Each removed task gets its TaskDeleted, written in the same transaction as the deletion and the
 * processed-event record.
 */
export function listDeletionHandler(em: EntityManager): EventHandler {
  return processOnce(em, TASK_CONSUMER, async (event, tx) => {
    const deleted = ListDeleted.decode(event.payload);
    const match = /^organizations\/([^/]+)\/boards\/([^/]+)\/lists\/([^/]+)$/.exec(deleted.list);
    if (!match || !match.slice(1).every(isResourceId)) return;
    const [, orgId, , listId] = match as unknown as [string, string, string, string];
    // Bind this transaction to the list's org, so row-level security admits exactly its rows.
    await enterOrgInTransaction(tx, orgId);
    const rows = await tx.execute<{ id: string; board_id: string; list_id: string; title: string }[]>(
      'delete from tasks where org_id = ? and list_id = ? returning id, board_id, list_id, title',
      [orgId, listId],
    );
    const actorId = event.actor.startsWith('users/') ? event.actor.slice('users/'.length) : '';
    for (const row of rows) {
      recordTaskDeleted(tx, { id: row.id, orgId, boardId: row.board_id, listId: row.list_id, title: row.title }, actorId);
    }
  });
}
