import type { BatchObservableResult, Counter, Histogram, Meter, ObservableGauge, ObservableResult } from '@opentelemetry/api';
import { SECONDS_BUCKETS, taskmeshMeter } from '../metrics.ts';

// The events' metrics (docs/observability.md): outbox backlog and publish lag, consumer lag (JetStream's
// num_pending), redeliveries and dead letters. Instruments are made on first use, after startTelemetry installed
// the MeterProvider; until then (tests without telemetry) they are no-ops.

interface EventInstruments {
  meter: Meter;
  publishLag: Histogram;
  consumeLag: Histogram;
  deliveries: Counter;
  redeliveries: Counter;
  outboxBacklog: ObservableGauge;
  outboxOldestAge: ObservableGauge;
  consumerPending: ObservableGauge;
}
let instruments: EventInstruments | undefined;

function eventInstruments(): EventInstruments {
  if (instruments) return instruments;
  const meter = taskmeshMeter();
  const advice = { explicitBucketBoundaries: SECONDS_BUCKETS };
  instruments = {
    meter,
    publishLag: meter.createHistogram('taskmesh.outbox.publish_lag', {
      description: 'Time from an event being committed to its outbox to its publication',
      unit: 's',
      advice,
    }),
    consumeLag: meter.createHistogram('taskmesh.events.consume_lag', {
      description: 'Time from an event being committed to its outbox to a consumer having handled it',
      unit: 's',
      advice,
    }),
    deliveries: meter.createCounter('taskmesh.events.deliveries', {
      description: 'Deliveries to consumers by outcome (handled, failed, dead_lettered)',
    }),
    redeliveries: meter.createCounter('taskmesh.events.redeliveries', {
      description: 'Deliveries of an event a consumer had received before (delivery count > 1)',
    }),
    outboxBacklog: meter.createObservableGauge('taskmesh.outbox.backlog', {
      description: 'Events committed to the outbox and not yet published',
      unit: '{event}',
    }),
    outboxOldestAge: meter.createObservableGauge('taskmesh.outbox.oldest_age', {
      description: 'Age of the oldest unpublished outbox event (0 when none waits)',
      unit: 's',
    }),
    consumerPending: meter.createObservableGauge('taskmesh.events.consumer.pending', {
      description: "Events in the stream not yet delivered to a durable consumer (JetStream's num_pending)",
      unit: '{event}',
    }),
  };
  return instruments;
}

/** The service a consumer belongs to: durable names start with it (`audit`, `task-memberships-…`, `board-watch-…`). */
export function serviceOfConsumer(consumer: string): string {
  const dash = consumer.indexOf('-');
  return dash < 0 ? consumer : consumer.slice(0, dash);
}

export function recordPublished(service: string, occurTime: Date): void {
  eventInstruments().publishLag.record((Date.now() - occurTime.getTime()) / 1_000, { service });
}

export function recordDelivery(consumer: string, outcome: 'handled' | 'failed' | 'dead_lettered', occurTime?: Date): void {
  const attributes = { service: serviceOfConsumer(consumer), 'messaging.consumer.group.name': consumer };
  const { deliveries, consumeLag } = eventInstruments();
  deliveries.add(1, { ...attributes, outcome });
  if (outcome === 'handled' && occurTime) consumeLag.record((Date.now() - occurTime.getTime()) / 1_000, attributes);
}

/**
 * Puts a consumer's redelivery and dead-letter counters at zero when it subscribes, so they are exported (and
 * increase() over them works) before the first one happens.
 */
export function initConsumerCounters(consumer: string): void {
  const attributes = { service: serviceOfConsumer(consumer), 'messaging.consumer.group.name': consumer };
  const { deliveries, redeliveries } = eventInstruments();
  redeliveries.add(0, attributes);
  deliveries.add(0, { ...attributes, outcome: 'dead_lettered' });
}

export function recordRedelivery(consumer: string): void {
  eventInstruments().redeliveries.add(1, { service: serviceOfConsumer(consumer), 'messaging.consumer.group.name': consumer });
}

/**
 * Reports a service's outbox at every scrape: `read` counts the unpublished rows and the age of the oldest.
 * Returns the function that stops reporting (the relay's stop).
 */
export function observeOutbox(service: string, read: () => Promise<{ backlog: number; oldestAgeSeconds: number }>): () => void {
  const { meter, outboxBacklog, outboxOldestAge } = eventInstruments();
  const callback = async (result: BatchObservableResult) => {
    try {
      const { backlog, oldestAgeSeconds } = await read();
      result.observe(outboxBacklog, backlog, { service });
      result.observe(outboxOldestAge, oldestAgeSeconds, { service });
    } catch {
      // Database unreachable: no value this scrape (the DB metrics and the relay's log say why).
    }
  };
  meter.addBatchObservableCallback(callback, [outboxBacklog, outboxOldestAge]);
  return () => meter.removeBatchObservableCallback(callback, [outboxBacklog, outboxOldestAge]);
}

/** Reports a durable consumer's pending count at every scrape; returns the function that stops it. */
export function observeConsumerPending(consumer: string, read: () => Promise<number | undefined>): () => void {
  const { consumerPending } = eventInstruments();
  const attributes = { service: serviceOfConsumer(consumer), 'messaging.consumer.group.name': consumer };
  const callback = async (result: ObservableResult) => {
    try {
      const pending = await read();
      if (pending !== undefined) result.observe(pending, attributes);
    } catch {
      // NATS unreachable: no value this scrape.
    }
  };
  consumerPending.addCallback(callback);
  return () => consumerPending.removeCallback(callback);
}
