import { metrics } from '@opentelemetry/api';

// Outbox lag and consumer lag (ARCHITECTURE.md, Observability): how long events wait to be published and
// to be handled. No-ops until the process installs a MeterProvider.
const meter = metrics.getMeter('taskmesh-events');

const publishLag = meter.createHistogram('taskmesh.outbox.publish_lag', {
  description: 'Time from an event being committed to its outbox to its publication',
  unit: 's',
});
const consumeLag = meter.createHistogram('taskmesh.events.consume_lag', {
  description: 'Time from an event being committed to its outbox to a consumer having handled it',
  unit: 's',
});
const outcomes = meter.createCounter('taskmesh.events.deliveries', {
  description: 'Deliveries to consumers by outcome (handled, failed, dead_lettered)',
});

export function recordPublished(service: string, occurTime: Date): void {
  publishLag.record((Date.now() - occurTime.getTime()) / 1_000, { 'taskmesh.service': service });
}

export function recordDelivery(consumer: string, outcome: 'handled' | 'failed' | 'dead_lettered', occurTime?: Date): void {
  outcomes.add(1, { 'messaging.consumer.group.name': consumer, outcome });
  if (outcome === 'handled' && occurTime) {
    consumeLag.record((Date.now() - occurTime.getTime()) / 1_000, { 'messaging.consumer.group.name': consumer });
  }
}
