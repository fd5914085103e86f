import type { EntityManager } from '@mikro-orm/postgresql';
import { OrganizationDeleted } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { ShareLinkOpened } from '@taskmesh/gen/taskmesh/share/v1/events.js';
import { TaskCreated, TaskDeleted, TaskMoved, TaskStatusChanged, TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { TaskStatus as ProtoTaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { PermanentEventError, type EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { processOnce, processOnceBatch } from '@taskmesh/runtime/events/processed-events';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { enterOrgInTransaction } from '@taskmesh/runtime/tenancy';
import { ActivityStore, scheduleOrgPurge } from '../db/activity-store.ts';
import { foldActivity, type ActivityFact, type TaskStatus } from '../domain/task-activity.ts';

/** Durable consumer name: every analytics replica shares it, so each event is counted by one of them. */
export const ANALYTICS_CONSUMER = 'analytics';

const TASK_NAME = /^organizations\/([^/]+)\/boards\/([^/]+)\/tasks\/([^/]+)$/;

const STATUS: Partial<Record<ProtoTaskStatus, TaskStatus>> = {
  [ProtoTaskStatus.TASK_STATUS_TODO]: 'TODO',
  [ProtoTaskStatus.TASK_STATUS_IN_PROGRESS]: 'IN_PROGRESS',
  [ProtoTaskStatus.TASK_STATUS_DONE]: 'DONE',
};

function statusOf(status: ProtoTaskStatus): TaskStatus {
  const known = STATUS[status];
  if (!known) throw new PermanentEventError(`unknown task status ${status}`);
  return known;
}

/** The org, board and task ids of a task name, which must be in the event's org. */
function idsOf(event: ReceivedEvent, taskName: string): { orgId: string; boardId: string; taskId: string } {
  const match = TASK_NAME.exec(taskName);
  if (!match || !match.slice(1).every(isResourceId) || event.organization !== `organizations/${match[1]}`) {
    throw new PermanentEventError(`${event.type} ${event.id} names no task of its organization ("${taskName}")`);
  }
  return { orgId: match[1]!, boardId: match[2]!, taskId: match[3]! };
}

function snapshot(kind: 'created' | 'updated' | 'moved', event: ReceivedEvent, task: Task | undefined) {
  if (!task) throw new PermanentEventError(`${event.type} ${event.id} carries no task`);
  const { orgId, boardId, taskId } = idsOf(event, task.name);
  const fact: ActivityFact = { kind, taskId, boardId, at: event.occurTime, status: statusOf(task.status), dueTime: task.dueTime ?? null, assignees: task.assignees };
  return { orgId, fact };
}

type Decode = (event: ReceivedEvent) => { orgId: string; fact: ActivityFact };

/** What each consumed event type says, as a fact of the org it belongs to. */
const DECODE: Record<string, Decode> = {
  'taskmesh.task.v1.TaskCreated': (event) => snapshot('created', event, TaskCreated.decode(event.payload).task),
  'taskmesh.task.v1.TaskUpdated': (event) => snapshot('updated', event, TaskUpdated.decode(event.payload).task),
  'taskmesh.task.v1.TaskMoved': (event) => snapshot('moved', event, TaskMoved.decode(event.payload).task),
  'taskmesh.task.v1.TaskStatusChanged': (event) => {
    const payload = TaskStatusChanged.decode(event.payload);
    const { orgId, boardId, taskId } = idsOf(event, payload.task);
    const fact: ActivityFact = { kind: 'statusChanged', taskId, boardId, at: event.occurTime, oldStatus: statusOf(payload.oldStatus), newStatus: statusOf(payload.newStatus) };
    return { orgId, fact };
  },
  'taskmesh.task.v1.TaskDeleted': (event) => {
    const { orgId, boardId, taskId } = idsOf(event, TaskDeleted.decode(event.payload).task);
    return { orgId, fact: { kind: 'deleted', taskId, boardId, at: event.occurTime } };
  },
  'taskmesh.share.v1.ShareLinkOpened': (event) => {
    const { orgId, boardId, taskId } = idsOf(event, ShareLinkOpened.decode(event.payload).task);
    return { orgId, fact: { kind: 'shareLinkOpened', taskId, boardId, at: event.occurTime } };
  },
};

const ORG_DELETED = 'taskmesh.org.v1.OrganizationDeleted';

export const ANALYTICS_EVENT_TYPES = [...Object.keys(DECODE), ORG_DELETED];

function factOf(event: ReceivedEvent): { orgId: string; fact: ActivityFact } {
  const decode = DECODE[event.type];
  if (!decode) throw new PermanentEventError(`analytics does not handle ${event.type}`);
  try {
    return decode(event);
  } catch (err) {
    if (err instanceof PermanentEventError) throw err;
    throw new PermanentEventError(`payload of ${event.type} ${event.id} does not decode: ${String(err)}`);
  }
}

/**
 * Folds the events of each org into its counters; orgs in id order, so concurrent batches lock alike. A deleted
 * organization's figures are scheduled for purging `orgRetentionDays` after its deletion.
 */
async function count(events: readonly ReceivedEvent[], tx: EntityManager, orgRetentionDays: number): Promise<void> {
  const byOrg = new Map<string, ActivityFact[]>();
  for (const event of events) {
    if (event.type === ORG_DELETED) {
      const orgId = /^organizations\/([^/]+)$/.exec(OrganizationDeleted.decode(event.payload).organization)?.[1];
      if (!orgId || !isResourceId(orgId)) throw new PermanentEventError(`${event.type} ${event.id} names no organization`);
      await scheduleOrgPurge(tx, orgId, new Date(event.occurTime.getTime() + orgRetentionDays * 86_400_000));
      continue;
    }
    const { orgId, fact } = factOf(event);
    const facts = byOrg.get(orgId);
    if (facts) facts.push(fact);
    else byOrg.set(orgId, [fact]);
  }
  for (const orgId of [...byOrg.keys()].sort()) {
    const facts = byOrg.get(orgId)!;
    await enterOrgInTransaction(tx, orgId);
    const store = new ActivityStore(tx, orgId);
    const previous = await store.loadStates(facts.map((f) => f.taskId));
    await store.write(foldActivity(previous, facts));
  }
}

/**
 * The real-time counters: each event is counted in the transaction that records it in processed_events, so a
 * redelivery (lost ack, replayed stream, republished outbox row) is skipped, and a batch counts all or nothing.
 * An event that cannot be decoded is dead-lettered alone (the bus retries a failed batch event by event).
 */
export function analyticsSubscription(em: EntityManager, settings: { orgRetentionDays: number }): EventSubscription {
  return {
    consumer: ANALYTICS_CONSUMER,
    types: ANALYTICS_EVENT_TYPES,
    handle: processOnce(em, ANALYTICS_CONSUMER, (event, tx) => count([event], tx, settings.orgRetentionDays)),
    handleBatch: processOnceBatch(em, ANALYTICS_CONSUMER, (events, tx) => count(events, tx, settings.orgRetentionDays)),
  };
}
