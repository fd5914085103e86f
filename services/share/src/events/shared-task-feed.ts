import type { EntityManager } from '@mikro-orm/postgresql';
import { BoardDeleted, BoardUpdated, ListCreated, ListDeleted, ListUpdated } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import { TaskDeleted, TaskMoved, TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import type { Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import type { EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { SharedViews, type TaskView } from '../db/shared-views.ts';

/** Durable consumer of the share service (its replicas share it: each event is applied once). */
export const SHARE_CONSUMER = 'share';

const lastId = (name: string) => name.slice(name.lastIndexOf('/') + 1);
/** The id after `collection/` in a resource name, e.g. idAfter('organizations/o/boards/b/lists/l', 'boards') → 'b'. */
const idAfter = (name: string, collection: string) => {
  const parts = name.split('/');
  return parts[parts.indexOf(collection) + 1] ?? '';
};

const viewOf = (task: Task): TaskView => ({
  taskId: lastId(task.name),
  listId: lastId(task.list),
  title: task.title,
  description: task.description,
  status: task.status,
  priority: task.priority,
  dueTime: task.dueTime ?? null,
  labels: task.labels,
  updatedAt: task.updateTime ?? new Date(0),
});

type Apply = (views: SharedViews, orgId: string, payload: Uint8Array) => Promise<void>;

/** What each consumed event does to the read model; everything keyed by ids the event names. */
const APPLY: Record<string, Apply> = {
  'taskmesh.task.v1.TaskUpdated': (views, _org, payload) => views.refreshTask(viewOf(TaskUpdated.decode(payload).task!)),
  'taskmesh.task.v1.TaskMoved': (views, _org, payload) => views.refreshTask(viewOf(TaskMoved.decode(payload).task!)),
  'taskmesh.task.v1.TaskDeleted': (views, org, payload) => views.removeTask(org, lastId(TaskDeleted.decode(payload).task)),
  'taskmesh.board.v1.BoardUpdated': (views, _org, payload) => {
    const { board } = BoardUpdated.decode(payload);
    return views.renamePlace(lastId(board!.name), board!.displayName);
  },
  'taskmesh.board.v1.BoardDeleted': (views, org, payload) => views.removeBoard(org, lastId(BoardDeleted.decode(payload).board)),
  'taskmesh.board.v1.ListCreated': (views, org, payload) => {
    const { list } = ListCreated.decode(payload);
    return views.addListIfBoardKept(org, idAfter(list!.name, 'boards'), lastId(list!.name), list!.displayName);
  },
  'taskmesh.board.v1.ListUpdated': (views, _org, payload) => {
    const { list } = ListUpdated.decode(payload);
    return views.renamePlace(lastId(list!.name), list!.displayName);
  },
  'taskmesh.board.v1.ListDeleted': (views, _org, payload) => views.removeList(lastId(ListDeleted.decode(payload).list)),
  // The payload names only the org, which the envelope already carries.
  'taskmesh.org.v1.OrganizationDeleted': (views, org) => views.removeOrganization(org),
  'taskmesh.org.v1.OrganizationSuspended': (views, org) => views.setSuspended(org, true),
  'taskmesh.org.v1.OrganizationReactivated': (views, org) => views.setSuspended(org, false),
};

export const CONSUMED_EVENT_TYPES = Object.keys(APPLY);

/**
 * Keeps shared tasks current: their fields from task events, board and list names from board events, and
 * removes links (and refuses new ones) when their task, board or organization is deleted; notes an
 * organization's suspension (no link of it opens meanwhile). Effectively once:
 * the event id goes to processed_events in the same org-bound transaction (tenant filter and RLS on) as the
 * change. Nothing here calls the network.
 */
export function sharedTaskFeed(em: EntityManager): EventSubscription {
  const handle = async (event: ReceivedEvent) => {
    const orgId = /^organizations\/([^/]+)$/.exec(event.organization)?.[1];
    const apply = APPLY[event.type];
    if (!orgId || !isResourceId(orgId) || !apply) return;
    await forkForOrg(em, orgId).transactional(async (tx) => {
      const inserted = await tx.execute<{ event_id: string }[]>(
        'insert into processed_events (consumer, event_id, event_type) values (?, ?, ?) on conflict do nothing returning event_id',
        [SHARE_CONSUMER, event.id, event.type],
      );
      if (inserted.length > 0) await apply(new SharedViews(tx), orgId, event.payload);
    });
  };
  return { consumer: SHARE_CONSUMER, types: CONSUMED_EVENT_TYPES, handle };
}
