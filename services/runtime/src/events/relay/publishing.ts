import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { withService } from '../../current-service.ts';
import { extractTraceContext, injectTraceHeaders } from '../../trace-context.ts';
import type { EventEnvelope } from '../envelope.ts';
import { PartialPublishError, type EventBus, type PublishItem } from '../event-bus.ts';
import { recordPublished } from '../metrics.ts';
import { eventsTracer, inSpan } from '../tracing.ts';
import type { OutboxRow } from './outbox-table.ts';

/**
 * Publishes rows in order, one PRODUCER span each (continuing the trace of the request that wrote the event),
 * pushing each published id onto `sent`; throws the bus's error at the first row not taken over. A bus with
 * publishBatch takes them in one call; otherwise each publish is awaited before the next (JetStream: a failed
 * one never has a later one stored ahead of it), stopping once the round is older than `maxRoundMs`.
 */
export async function publishRows(
  bus: EventBus,
  service: string,
  rows: readonly OutboxRow[],
  sent: string[],
  maxRoundMs: number,
): Promise<void> {
  if (bus.publishBatch) await publishTogether(bus.publishBatch.bind(bus), service, rows, sent);
  else await publishOneByOne(bus, service, rows, sent, maxRoundMs);
}

async function publishOneByOne(bus: EventBus, service: string, rows: readonly OutboxRow[], sent: string[], maxRoundMs: number): Promise<void> {
  const startedAt = Date.now();
  for (const row of rows) {
    if (Date.now() - startedAt > maxRoundMs) break;
    const event = envelopeOf(row);
    await inSpan(`${row.type} publish`, SpanKind.PRODUCER, spanAttributes(row, service), parentOf(row, service), () =>
      bus.publish(event, injectTraceHeaders({})),
    );
    sent.push(row.id);
    recordPublished(service, event.occurTime);
  }
}

async function publishTogether(
  publishBatch: NonNullable<EventBus['publishBatch']>,
  service: string,
  rows: readonly OutboxRow[],
  sent: string[],
): Promise<void> {
  const spans: Span[] = [];
  const items: PublishItem[] = rows.map((row) => {
    const parent = parentOf(row, service);
    const span = eventsTracer.startSpan(`${row.type} publish`, { kind: SpanKind.PRODUCER, attributes: spanAttributes(row, service) }, parent);
    spans.push(span);
    return { event: envelopeOf(row), traceHeaders: injectTraceHeaders({}, trace.setSpan(parent, span)) };
  });
  let published = items.length;
  let failure: unknown;
  try {
    await publishBatch(items);
  } catch (err) {
    published = err instanceof PartialPublishError ? err.published : 0;
    failure = err instanceof PartialPublishError ? err.cause : err;
  }
  spans.forEach((span, i) => {
    if (i >= published) {
      span.recordException(failure instanceof Error ? failure : String(failure));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  });
  for (const { event } of items.slice(0, published)) {
    sent.push(event.id);
    recordPublished(service, event.occurTime);
  }
  if (published < items.length) throw failure;
}

const spanAttributes = (row: OutboxRow, service: string) => ({
  'messaging.system': 'nats',
  'messaging.operation.type': 'send',
  'messaging.message.id': row.id,
  'taskmesh.service': service,
});

function envelopeOf(row: OutboxRow): EventEnvelope {
  return {
    id: row.id,
    type: row.type,
    organization: row.organization,
    actor: row.actor,
    resource: row.resource,
    occurTime: new Date(row.occur_time),
    payload: new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength),
  };
}

/** The context of the request that wrote the row (a new trace without one), as work of `service`. */
function parentOf(row: OutboxRow, service: string) {
  let parent = context.active();
  if (row.trace_context) {
    try {
      parent = extractTraceContext(JSON.parse(row.trace_context) as Record<string, string>);
    } catch {
      // Unreadable trace context: the publish starts a trace of its own.
    }
  }
  return withService(parent, service);
}
