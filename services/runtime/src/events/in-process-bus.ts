import type { Logger } from 'pino';
import { extractTraceContext } from '../trace-context.ts';
import type { EventEnvelope } from './envelope.ts';
import {
  assertSubscription,
  backoffFor,
  DEFAULT_MAX_DELIVER,
  DeliveryDeferredError,
  PartialPublishError,
  PermanentEventError,
  type PublishItem,
  type ConsumerStats,
  type DeadLetter,
  type EventBus,
  type EventSubscription,
  type RunningSubscription,
} from './event-bus.ts';
import { initConsumerCounters, recordDelivery } from './metrics.ts';
import { handleBatchInSpan, handleInSpan } from './tracing.ts';

interface Registered {
  subscription: EventSubscription;
  stats: ConsumerStats;
  /** Failed deliveries per event id, until the event is handled or dead-lettered. */
  failures: Map<string, number>;
  inFlight: Promise<void> | undefined;
  stopped: boolean;
}

export interface InProcessBus extends EventBus {
  readonly mode: 'in-process';
  /** Events no delivery succeeded for, newest last (also logged at error level with the whole envelope). */
  deadLetters(): readonly DeadLetter[];
}

/**
 * The embedded mode's carrier: every service of the process shares one bus, and a relay's publish hands
 * the event to each subscriber of its type in turn. publish() resolves only when all of them handled it, so
 * the relay marks the outbox row sent only then; a failure rejects it and the row is offered again (to
 * every subscriber: the ones that already handled it skip it as a duplicate, through processOnce). After
 * maxDeliver failed deliveries a subscriber gives the event up to the dead-letter list, so one poison event
 * cannot hold the outbox forever. Delivery is at-least-once, as with JetStream; events of one outbox go
 * out in order. Nothing is delivered before start(), which the launcher calls once every service of the
 * process has subscribed (an event published earlier could miss a consumer); a stopped subscriber defers
 * the events of its types instead of missing them.
 */
export function createInProcessBus(options: { log: Logger }): InProcessBus {
  const registered: Registered[] = [];
  let started = false;
  const dead: DeadLetter[] = [];
  const log = options.log.child({ component: 'in-process-bus' });

  async function deliver(entry: Registered, event: EventEnvelope, traceHeaders: Record<string, string>) {
    const { subscription, stats, failures } = entry;
    const failed = failures.get(event.id) ?? 0;
    const received = { ...event, deliveryCount: failed + 1, traceContext: extractTraceContext(traceHeaders) };
    try {
      await handleInSpan(subscription.consumer, received, () => subscription.handle(received));
      failures.delete(event.id);
      stats.handled++;
      recordDelivery(subscription.consumer, 'handled', event.occurTime);
    } catch (err) {
      const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
      if (err instanceof PermanentEventError || failed + 1 >= maxDeliver) {
        failures.delete(event.id);
        stats.deadLettered++;
        recordDelivery(subscription.consumer, 'dead_lettered');
        const letter = { consumer: subscription.consumer, event, reason: String(err), deliveries: failed + 1 };
        dead.push(letter);
        log.error(
          { err, consumer: subscription.consumer, eventId: event.id, eventType: event.type, deliveries: failed + 1,
            envelope: Buffer.from(JSON.stringify({ ...event, payload: Buffer.from(event.payload).toString('base64') })).toString('base64') },
          'event dead-lettered',
        );
        return;
      }
      failures.set(event.id, failed + 1);
      stats.failed++;
      recordDelivery(subscription.consumer, 'failed');
      const retryInMs = backoffFor(subscription, failed + 1);
      log.warn({ err, consumer: subscription.consumer, eventId: event.id, deliveries: failed + 1, retryInMs }, 'event handler failed; will redeliver');
      throw new DeliveryDeferredError(`consumer ${subscription.consumer} failed on event ${event.id}`, retryInMs);
    }
  }

  /**
   * Several events to one shared subscriber, in order: through handleBatch when it has one (falling back to
   * deliver() per event if the batch throws). Returns how many of them were handled or dead-lettered before
   * one was deferred, and the deferral.
   */
  async function deliverMany(entry: Registered, items: readonly PublishItem[]): Promise<{ done: number; deferred?: unknown }> {
    const { subscription, stats, failures } = entry;
    if (subscription.handleBatch && items.length > 1) {
      const events = items.map(({ event, traceHeaders }) => ({
        ...event,
        deliveryCount: (failures.get(event.id) ?? 0) + 1,
        traceContext: extractTraceContext(traceHeaders),
      }));
      try {
        await handleBatchInSpan(subscription.consumer, events, () => subscription.handleBatch!(events));
        for (const event of events) {
          failures.delete(event.id);
          stats.handled++;
          recordDelivery(subscription.consumer, 'handled', event.occurTime);
        }
        return { done: items.length };
      } catch (err) {
        log.info({ err, consumer: subscription.consumer, events: events.length }, 'event batch failed; handling its events one by one');
      }
    }
    for (let i = 0; i < items.length; i++) {
      try {
        await deliver(entry, items[i]!.event, items[i]!.traceHeaders);
      } catch (err) {
        return { done: i, deferred: err };
      }
    }
    return { done: items.length };
  }

  // Broadcast subscribers see events while subscribed, once each; a failure is theirs alone.
  async function deliverBroadcast(entry: Registered, event: EventEnvelope, traceHeaders: Record<string, string>) {
    if (entry.stopped) return;
    const received = { ...event, deliveryCount: 1, traceContext: extractTraceContext(traceHeaders) };
    try {
      await handleInSpan(entry.subscription.consumer, received, () => entry.subscription.handle(received));
      entry.stats.handled++;
    } catch (err) {
      entry.stats.failed++;
      log.warn({ err, consumer: entry.subscription.consumer, eventId: event.id }, 'broadcast handler failed');
    }
  }

  return {
    mode: 'in-process',
    start() {
      started = true;
    },
    async publish(event, traceHeaders) {
      // Until every consumer of the process has subscribed, an event could miss one: keep it in the outbox.
      if (!started) throw new DeliveryDeferredError('in-process bus not started yet', 200);
      for (const entry of [...registered]) {
        if (!entry.subscription.types.includes(event.type)) continue;
        if (entry.subscription.delivery === 'broadcast') {
          await deliverBroadcast(entry, event, traceHeaders);
          continue;
        }
        if (entry.stopped) throw new DeliveryDeferredError(`consumer ${entry.subscription.consumer} is stopped`, 1_000);
        const delivery = deliver(entry, event, traceHeaders);
        entry.inFlight = delivery.catch(() => undefined);
        await delivery;
      }
    },
    async publishBatch(items) {
      if (!started) throw new PartialPublishError(0, new DeliveryDeferredError('in-process bus not started yet', 200));
      // No batch handler to feed: each event to every subscriber before the next, as publish() does.
      if (!registered.some((entry) => entry.subscription.handleBatch && entry.subscription.delivery !== 'broadcast')) {
        for (let i = 0; i < items.length; i++) {
          try {
            await this.publish(items[i]!.event, items[i]!.traceHeaders);
          } catch (err) {
            throw new PartialPublishError(i, err);
          }
        }
        return;
      }
      // Shared subscribers first, each with the events of its types among those every earlier one took; then
      // broadcast subscribers with what all of them took (so a deferred event reaches no one twice sooner).
      let limit = items.length;
      let deferred: unknown;
      for (const entry of [...registered]) {
        if (entry.subscription.delivery === 'broadcast') continue;
        const mine: number[] = [];
        for (let i = 0; i < limit; i++) if (entry.subscription.types.includes(items[i]!.event.type)) mine.push(i);
        if (mine.length === 0) continue;
        if (entry.stopped) {
          limit = mine[0]!;
          deferred = new DeliveryDeferredError(`consumer ${entry.subscription.consumer} is stopped`, 1_000);
          continue;
        }
        const delivery = deliverMany(entry, mine.map((i) => items[i]!));
        entry.inFlight = delivery.then(() => undefined, () => undefined);
        const { done, deferred: why } = await delivery;
        if (done < mine.length) {
          limit = mine[done]!;
          deferred = why;
        }
      }
      for (const entry of [...registered]) {
        if (entry.subscription.delivery !== 'broadcast') continue;
        for (let i = 0; i < limit; i++) {
          const { event, traceHeaders } = items[i]!;
          if (entry.subscription.types.includes(event.type)) await deliverBroadcast(entry, event, traceHeaders);
        }
      }
      if (limit < items.length) throw new PartialPublishError(limit, deferred);
    },
    async subscribe(subscription) {
      assertSubscription(subscription);
      if (subscription.delivery !== 'broadcast') initConsumerCounters(subscription.consumer);
      const entry: Registered = {
        subscription,
        stats: { handled: 0, failed: 0, deadLettered: 0 },
        failures: new Map(),
        inFlight: undefined,
        stopped: false,
      };
      registered.push(entry);
      const running: RunningSubscription = {
        consumer: subscription.consumer,
        stats: () => ({ ...entry.stats }),
        async stop() {
          // A shared consumer's entry stays: events of its types are deferred (kept in their outbox), not
          // skipped. A broadcast subscriber is simply gone.
          entry.stopped = true;
          await entry.inFlight;
          if (subscription.delivery === 'broadcast') registered.splice(registered.indexOf(entry), 1);
        },
      };
      return running;
    },
    async close() {
      for (const entry of [...registered]) {
        entry.stopped = true;
        await entry.inFlight;
      }
    },
    deadLetters: () => [...dead],
  };
}
