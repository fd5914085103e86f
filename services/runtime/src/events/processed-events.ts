import type { EntityManager } from '@mikro-orm/postgresql';
import type { ReceivedEvent } from './envelope.ts';
import type { EventBatchHandler, EventHandler } from './event-bus.ts';

/**
 * DDL for the idempotency record of a consuming service: one row per (consumer, event) handled. Each
 * consuming service adds it to its own migrations, as producing services add the outbox.
 */
export const PROCESSED_EVENTS_TABLE_SQL = `
create table processed_events (
  consumer text not null,
  event_id uuid not null,
  event_type text not null,
  processed_at timestamptz not null default now(),
  primary key (consumer, event_id)
);
create index processed_events_processed_at_idx on processed_events (processed_at);
`;

export interface ProcessOnceOptions {
  /** Called when a redelivered event is recognised (its handling committed before). */
  onDuplicate?: (event: ReceivedEvent) => void;
}

/**
 * Makes a handler effectively-once: the event id is recorded in processed_events in the same transaction as
 * everything the handler writes through `tx`, so a redelivery (lost ack, second relay, replay) finds the
 * row and is skipped, and a handler that failed half-way left nothing behind. Concurrent deliveries of one
 * event to two replicas serialise on the primary key; the second sees a conflict and skips.
 *
 * The handler runs inside that transaction: it must not call the network (no gRPC, no SMTP) nor wait on
 * another connection (services/runtime/README.md). Side effects outside the database go through a table of
 * the service's own that a worker drains (as notify's outgoing mail does).
 */
export function processOnce(
  em: EntityManager,
  consumer: string,
  handle: (event: ReceivedEvent, tx: EntityManager) => Promise<void>,
  options: ProcessOnceOptions = {},
): EventHandler {
  return async (event) => {
    const duplicate = await em.fork().transactional(async (tx) => {
      const inserted = await tx.execute<{ event_id: string }[]>(
        'insert into processed_events (consumer, event_id, event_type) values (?, ?, ?) on conflict do nothing returning event_id',
        [consumer, event.id, event.type],
      );
      if (inserted.length === 0) return true;
      await handle(event, tx);
      return false;
    });
    if (duplicate) options.onDuplicate?.(event);
  };
}

/**
 * processOnce for a batch (EventSubscription.handleBatch): one transaction, one multi-row insert into
 * processed_events, and `handle` with the events that were not processed before, in their order (an id
 * delivered twice in one batch counts once). All or nothing, as for one event. Rows are inserted in id
 * order, so two replicas that got overlapping batches wait on each other instead of deadlocking.
 */
export function processOnceBatch(
  em: EntityManager,
  consumer: string,
  handle: (events: readonly ReceivedEvent[], tx: EntityManager) => Promise<void>,
  options: ProcessOnceOptions = {},
): EventBatchHandler {
  return async (events) => {
    if (events.length === 0) return;
    const firsts = new Map<string, ReceivedEvent>();
    // Keyed as PostgreSQL returns a uuid: lower case.
    for (const event of events) if (!firsts.has(event.id.toLowerCase())) firsts.set(event.id.toLowerCase(), event);
    const ids = [...firsts.keys()].sort();
    const duplicates = await em.fork().transactional(async (tx) => {
      const values: string[] = [];
      const params: string[] = [];
      for (const id of ids) {
        values.push('(?, ?, ?)');
        params.push(consumer, id, firsts.get(id)!.type);
      }
      const inserted = await tx.execute<{ event_id: string }[]>(
        `insert into processed_events (consumer, event_id, event_type) values ${values.join(', ')} on conflict do nothing returning event_id`,
        params,
      );
      const fresh = new Set(inserted.map((row) => row.event_id));
      const todo: ReceivedEvent[] = [];
      const skipped: ReceivedEvent[] = [];
      for (const event of events) {
        const id = event.id.toLowerCase();
        if (fresh.delete(id)) todo.push(event);
        else skipped.push(event);
      }
      if (todo.length > 0) await handle(todo, tx);
      return skipped;
    });
    if (options.onDuplicate) for (const event of duplicates) options.onDuplicate(event);
  };
}
