import type { EntityManager } from '@mikro-orm/postgresql';
import { UserErased, UserSignedUp } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import { OrganizationCreated, OrganizationReactivated, OrganizationSuspended, OrganizationUpdated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { TaskAssigned, TaskCreated, TaskDeleted, TaskMoved, TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { decodePayload, type ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { PermanentEventError, type EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { processOnce, processOnceBatch } from '@taskmesh/runtime/events/processed-events';
import { MailQueue } from '../db/mail-queue.ts';
import { TaskDigest, UNNAMED_ORGANIZATION, type TaskChange } from '../db/task-digest.ts';
import { organizationOf, taskState } from '../mapping.ts';

export const NOTIFY_CONSUMER = 'notify';

type Handler = (event: ReceivedEvent, tx: EntityManager) => Promise<void>;

/**
 * A notice about something older than this is noise, not news: a consumer created on a stream with history,
 * or catching up after a long outage, records the task data but does not mail yesterday's assignments.
 */
export const MAX_NOTICE_AGE_MS = 24 * 3_600_000;
const stale = (event: ReceivedEvent) => Date.now() - event.occurTime.getTime() > MAX_NOTICE_AGE_MS;

async function organizationName(tx: EntityManager, organization: string): Promise<string> {
  const rows = await tx.execute<{ display_name: string }[]>('select display_name from organization_name where name = ?', [organization]);
  return rows[0]?.display_name ?? UNNAMED_ORGANIZATION;
}

/** Per event type: what notify records or queues. Everything runs in the event's idempotent transaction. */
const handlers: Record<string, Handler> = {
  'taskmesh.identity.v1.UserSignedUp': async (event, tx) => {
    const signedUp = decodePayload(event, UserSignedUp);
    if (stale(event)) return;
    await MailQueue.enqueue(tx, {
      dedupKey: `welcome:${signedUp.user}`,
      recipient: signedUp.user,
      toAddress: signedUp.email,
      content: { kind: 'welcome', displayName: signedUp.displayName },
    });
  },
  // An erased account: its mails (sent or not, with its address) go, and no digest names it as assignee.
  'taskmesh.identity.v1.UserErased': async (event, tx) => {
    const { user } = decodePayload(event, UserErased);
    await tx.execute('delete from outgoing_mail where recipient = ?', [user]);
    await tx.execute('update task_snapshot set assignees = array_remove(assignees, ?) where ? = any(assignees)', [user, user]);
  },
  'taskmesh.task.v1.TaskAssigned': async (event, tx) => {
    const assigned = decodePayload(event, TaskAssigned);
    if (stale(event)) return;
    const orgName = await organizationName(tx, organizationOf(assigned.task));
    // Assigning yourself is not news to you.
    for (const assignee of new Set(assigned.assignees)) {
      if (assignee === event.actor) continue;
      await MailQueue.enqueue(tx, {
        dedupKey: `task-assigned:${event.id}:${assignee}`,
        recipient: assignee,
        content: { kind: 'task-assigned', task: assigned.task, title: assigned.title, actor: event.actor, organizationName: orgName },
      });
    }
  },
  'taskmesh.org.v1.OrganizationCreated': async (event, tx) => {
    const org = decodePayload(event, OrganizationCreated).organization;
    if (org) await TaskDigest.recordOrganizationName(tx, org.name, org.displayName, org.updateTime ?? event.occurTime);
  },
  'taskmesh.org.v1.OrganizationUpdated': async (event, tx) => {
    const org = decodePayload(event, OrganizationUpdated).organization;
    if (org) await TaskDigest.recordOrganizationName(tx, org.name, org.displayName, org.updateTime ?? event.occurTime);
  },
  'taskmesh.org.v1.OrganizationSuspended': async (event, tx) => {
    await TaskDigest.recordSuspension(tx, decodePayload(event, OrganizationSuspended).organization, true, event.occurTime);
  },
  'taskmesh.org.v1.OrganizationReactivated': async (event, tx) => {
    await TaskDigest.recordSuspension(tx, decodePayload(event, OrganizationReactivated).organization, false, event.occurTime);
  },
};

/** The task events that only change the digest's data: what each one records. */
const taskChanges: Record<string, (event: ReceivedEvent) => TaskChange> = {
  'taskmesh.task.v1.TaskCreated': (event) => ({ kind: 'state', task: taskState(decodePayload(event, TaskCreated).task, event) }),
  'taskmesh.task.v1.TaskUpdated': (event) => ({ kind: 'state', task: taskState(decodePayload(event, TaskUpdated).task, event) }),
  'taskmesh.task.v1.TaskMoved': (event) => ({ kind: 'state', task: taskState(decodePayload(event, TaskMoved).task, event) }),
  'taskmesh.task.v1.TaskDeleted': (event) => {
    const deleted = decodePayload(event, TaskDeleted);
    return { kind: 'deleted', name: deleted.task, organization: organizationOf(deleted.task), at: event.occurTime };
  },
};

for (const [type, change] of Object.entries(taskChanges)) {
  handlers[type] = async (event, tx) => {
    const recorded = change(event);
    if (recorded.kind === 'state') await TaskDigest.recordTask(tx, recorded.task);
    else await TaskDigest.recordTaskDeleted(tx, recorded.name, recorded.organization, recorded.at);
  };
}

/**
 * A batch in one transaction, with the same effect as the events one by one: mails and org names in event
 * order; the task snapshots (which no handler reads) after them, collapsed per task (TaskDigest.recordTaskChanges).
 */
async function handleBatch(events: readonly ReceivedEvent[], tx: EntityManager): Promise<void> {
  const changes: TaskChange[] = [];
  for (const event of events) {
    const change = taskChanges[event.type];
    if (change) changes.push(change(event));
    else await handlers[event.type]?.(event, tx);
  }
  await TaskDigest.recordTaskChanges(tx, changes);
}

/** The events whose handlers queue mail: only after those has the dispatcher anything new to send. */
const MAIL_EVENT_TYPES = new Set(['taskmesh.identity.v1.UserSignedUp', 'taskmesh.task.v1.TaskAssigned']);

/**
 * Task states only (the bulk: TaskCreated, TaskUpdated, TaskMoved): recorded with their processed_events
 * rows in one statement (TaskDigest.recordNewTaskStates). False, having done nothing, for any other batch.
 */
async function recordTaskStatesFast(em: EntityManager, events: readonly ReceivedEvent[]): Promise<boolean> {
  const items = [];
  for (const event of events) {
    const change = taskChanges[event.type];
    if (!change) return false;
    const recorded = change(event);
    if (recorded.kind !== 'state') return false;
    items.push({ eventId: event.id, eventType: event.type, task: recorded.task });
  }
  await TaskDigest.recordNewTaskStates(em, NOTIFY_CONSUMER, items);
  return true;
}

/** Notify's one durable consumer; `afterCommit` runs once an event's mails are queued (to nudge the dispatcher). */
export function notifySubscription(em: EntityManager, afterCommit: () => void): EventSubscription {
  const handleOnce = processOnce(em, NOTIFY_CONSUMER, async (event, tx) => {
    const handler = handlers[event.type];
    if (handler) await handler(event, tx);
  });
  const handleBatchOnce = processOnceBatch(em, NOTIFY_CONSUMER, handleBatch);
  return {
    consumer: NOTIFY_CONSUMER,
    types: Object.keys(handlers),
    handle: async (event) => {
      try {
        if (!(await recordTaskStatesFast(em, [event]))) await handleOnce(event);
      } catch (err) {
        // A payload that does not decode will not decode next time either.
        if (err instanceof RangeError || (err instanceof Error && /invalid wire type|index out of range/i.test(err.message))) {
          throw new PermanentEventError(`undecodable ${event.type} payload: ${err.message}`);
        }
        throw err;
      }
      if (MAIL_EVENT_TYPES.has(event.type)) afterCommit();
    },
    // A failing batch is retried event by event (through handle), which tells a poison event from the rest.
    handleBatch: async (events) => {
      if (!(await recordTaskStatesFast(em, events))) await handleBatchOnce(events);
      if (events.some((event) => MAIL_EVENT_TYPES.has(event.type))) afterCommit();
    },
  };
}
