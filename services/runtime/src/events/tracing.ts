import { SpanKind, SpanStatusCode, context, trace, type Context, type Link } from '@opentelemetry/api';
import { withService } from '../current-service.ts';
import type { ReceivedEvent } from './envelope.ts';
import { recordRedelivery, serviceOfConsumer } from './metrics.ts';

// NATS has no OpenTelemetry instrumentation: the relay opens a PRODUCER span per event and puts its context
// in the message headers; the consumer continues that trace with a CONSUMER span around the handler.
export const eventsTracer = trace.getTracer('taskmesh-events');

export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Record<string, string | number>,
  parent: Context | undefined,
  work: () => Promise<T>,
  links?: Link[],
): Promise<T> {
  const run = (span: import('@opentelemetry/api').Span) =>
    work().then(
      (result) => {
        span.end();
        return result;
      },
      (err: unknown) => {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        throw err;
      },
    );
  const options = links ? { kind, attributes, links } : { kind, attributes };
  return parent === undefined
    ? eventsTracer.startActiveSpan(name, options, run)
    : eventsTracer.startActiveSpan(name, options, parent, run);
}

/** Runs a consumer's handler in a CONSUMER span parented by the publisher's context. */
export function handleInSpan(consumer: string, event: ReceivedEvent, handle: () => Promise<void>): Promise<void> {
  if (event.deliveryCount > 1) recordRedelivery(consumer);
  return inSpan(
    `${event.type} process`,
    SpanKind.CONSUMER,
    {
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': consumer,
      'messaging.message.id': event.id,
      'messaging.message.delivery_count': event.deliveryCount,
    },
    withService(event.traceContext, serviceOfConsumer(consumer)),
    handle,
  );
}

/**
 * Runs a batch handler in one CONSUMER span, linked to the publisher's span of every event of the batch
 * (OpenTelemetry's convention for batch processing): one span per batch instead of one per event. A batch of
 * one event (the usual case at low load) is that event's processing and continues its trace instead; so does
 * a batch whose events all come from one trace (one request's events, published together), under its first.
 */
export function handleBatchInSpan(consumer: string, events: readonly ReceivedEvent[], handle: () => Promise<void>): Promise<void> {
  if (events.length === 1) return handleInSpan(consumer, events[0]!, handle);
  const links: Link[] = [];
  let oneTrace: string | undefined = trace.getSpanContext(events[0]!.traceContext)?.traceId;
  for (const event of events) {
    if (event.deliveryCount > 1) recordRedelivery(consumer);
    const spanContext = trace.getSpanContext(event.traceContext);
    if (spanContext) links.push({ context: spanContext });
    if (spanContext?.traceId !== oneTrace) oneTrace = undefined;
  }
  return inSpan(
    `${consumer} process`,
    SpanKind.CONSUMER,
    {
      'messaging.system': 'nats',
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': consumer,
      'messaging.batch.message_count': events.length,
    },
    withService(oneTrace === undefined ? context.active() : events[0]!.traceContext, serviceOfConsumer(consumer)),
    oneTrace === undefined ? () => inEveryTrace(consumer, events, handle) : handle,
    links,
  );
}

/**
 * A batch from several traces also gets one CONSUMER span per event under that event's publisher, spanning
 * the batch's work, so each request's trace still shows every consumer of its events.
 */
async function inEveryTrace(consumer: string, events: readonly ReceivedEvent[], handle: () => Promise<void>): Promise<void> {
  const service = serviceOfConsumer(consumer);
  const spans = events.map((event) =>
    eventsTracer.startSpan(
      `${event.type} process`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.consumer.group.name': consumer,
          'messaging.message.id': event.id,
          'messaging.batch.message_count': events.length,
        },
      },
      withService(event.traceContext, service),
    ),
  );
  try {
    await handle();
  } catch (err) {
    for (const span of spans) span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    for (const span of spans) span.end();
  }
}
