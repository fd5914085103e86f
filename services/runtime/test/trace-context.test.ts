import { ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shutdownTelemetry, startTelemetry } from '../src/telemetry.ts';
import { extractTraceContext, injectTraceHeaders } from '../src/trace-context.ts';

const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor({ exporter });
const tracer = trace.getTracer('trace-context-test');

// Through the propagator startTelemetry installs, as the NATS publisher and consumer will.
describe('trace context in message headers', () => {
  beforeAll(() =>
    startTelemetry({ serviceName: 'trace-context-test', spanProcessors: [processor] }),
  );
  afterAll(() => shutdownTelemetry());

  it('injects the active span as a W3C traceparent header', () => {
    const { headers, span } = tracer.startActiveSpan('publish', (publish) => {
      publish.end();
      return { headers: injectTraceHeaders({ 'Nats-Msg-Id': 'event-1' }), span: publish.spanContext() };
    });
    expect(headers).toEqual({ 'Nats-Msg-Id': 'event-1', traceparent: `00-${span.traceId}-${span.spanId}-01` });
  });

  it('writes no trace headers outside any span', () => {
    expect(context.with(ROOT_CONTEXT, () => injectTraceHeaders({}))).toEqual({});
  });

  it('continues the publisher trace: a consumer span started from the headers is its child', async () => {
    const headers = tracer.startActiveSpan('publish', (publish) => {
      publish.end();
      return injectTraceHeaders({});
    });
    context.with(ROOT_CONTEXT, () => {
      const consume = tracer.startSpan('consume', {}, extractTraceContext(headers));
      consume.end();
    });
    // Export waits for the resource's asynchronous attributes (host id).
    await processor.forceFlush();
    const [publish, consume] = exporter.getFinishedSpans().slice(-2);
    expect(publish?.name).toBe('publish');
    expect(consume?.name).toBe('consume');
    if (publish === undefined || consume === undefined) return;
    expect(consume.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(consume.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
    expect(consume.parentSpanContext?.isRemote).toBe(true);
  });

  it('gives back the base context for headers without trace context, so the consumer starts a new trace', () => {
    const extracted = extractTraceContext({ 'Nats-Msg-Id': 'event-2' }, ROOT_CONTEXT);
    expect(extracted).toBe(ROOT_CONTEXT);
    expect(trace.getSpanContext(extracted)).toBeUndefined();
  });
});
