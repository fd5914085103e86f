import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { EventBus } from './event-bus.ts';
import { observeOutbox } from './metrics.ts';
import { OutboxTable } from './relay/outbox-table.ts';
import { startPollingLoop } from './relay/polling-loop.ts';
import { publishRows } from './relay/publishing.ts';

export interface OutboxRelayOptions {
  /** The service's EntityManager (Database.em); the relay forks it. */
  em: EntityManager;
  /** Service name, for logs and spans. */
  service: string;
  bus: EventBus;
  log: Logger;
  /** How often the outbox is polled when not nudged. Default 1 s. */
  pollIntervalMs?: number;
  /** Rows read per round. Default 100. */
  batchSize?: number;
  /** Nudge on every commit of the ORM (default true), so events go out right after the change. */
  nudgeOnCommit?: boolean;
}

export interface OutboxRelay {
  /** Publish soon, without waiting for the next poll (e.g. right after a commit). */
  nudge(): void;
  /** Publishes everything unsent now; resolves with how many rows went out. */
  flush(): Promise<number>;
  /** Stops polling after the round in progress, then tries one last flush. */
  stop(): Promise<void>;
}

/** A round stops publishing when it is older than this, well inside JetStream's duplicate window. */
const MAX_ROUND_MS = 60_000;

/**
 * Publishes a service's outbox rows in seq order and marks them sent.
 *
 * No transaction is held while publishing (a network call inside a transaction holds its connection and
 * locks for as long as the broker takes, and in-process handlers may write to the same database): a round
 * reads a batch, publishes it in order, then marks the published prefix sent (outbox-table.ts). So a row can
 * go out twice — two relay replicas reading the same batch, or a crash between publish and mark — and
 * consumers never see it twice, because JetStream drops a repeated Nats-Msg-Id (the event id) within the
 * stream's duplicate window and every consumer skips an event id it processed. Order: a later event of one
 * aggregate was committed after the earlier one (row locks on the aggregate), so any relay that reads it
 * also reads the earlier one, unsent and ahead of it or already sent; each event reaches the stream first in
 * outbox order.
 *
 * When the bus rejects (NATS down, an in-process handler failing) the rest of the batch waits in the outbox
 * and the round is retried with backoff (polling-loop.ts); nothing is lost.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { bus, service } = options;
  const log = options.log.child({ component: 'outbox-relay' });
  const batchSize = options.batchSize ?? 100;
  const outbox = new OutboxTable(options.em, batchSize);
  const stopObserving = observeOutbox(service, () => outbox.backlog());

  /** One batch: returns how many rows went out, or throws the bus's error after marking the sent prefix. */
  async function round(): Promise<number> {
    const rows = await outbox.nextBatch();
    if (rows.length === 0) return 0;
    const sent: string[] = [];
    let failed = true;
    try {
      await publishRows(bus, service, rows, sent, MAX_ROUND_MS);
      failed = false;
    } finally {
      outbox.published(sent);
      // After a failure the loop backs off: mark the published prefix now rather than at the next round.
      if (failed) await outbox.markPublished();
    }
    return sent.length;
  }

  async function flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await round();
      total += count;
      if (count < batchSize) return total;
    }
  }

  const loop = startPollingLoop(() => flush().then(() => undefined), { pollIntervalMs: options.pollIntervalMs ?? 1_000, log });
  if (options.nudgeOnCommit ?? true) {
    options.em.getEventManager().registerSubscriber({
      afterFlush: () => loop.nudge(),
      afterTransactionCommit: () => loop.nudge(),
    });
  }

  return {
    nudge: () => loop.nudge(),
    flush: async () => {
      await loop.idle();
      const count = await flush();
      await outbox.markPublished();
      return count;
    },
    async stop() {
      stopObserving();
      await loop.stop();
      try {
        await flush();
        await outbox.markPublished();
      } catch (err) {
        log.info({ err }, 'unsent events stay in the outbox for the next start');
      }
    },
  };
}
