// Trace context across message headers. NATS has no OpenTelemetry instrumentation, so publishers write
// the W3C headers (traceparent, tracestate, baggage) by hand and consumers continue the trace from them,
// through whatever propagator startTelemetry installed.
import { context, propagation, type Context } from '@opentelemetry/api';

/** Adds the trace context of `from` (default: the active one) to `carrier` and returns it. */
export function injectTraceHeaders(
  carrier: Record<string, string>,
  from: Context = context.active(),
): Record<string, string> {
  propagation.inject(from, carrier);
  return carrier;
}

/**
 * The context a message was published in, to run its consumer in (`context.with`) or to parent the
 * consumer's span. Headers without trace context give back `base` unchanged.
 */
export function extractTraceContext(
  carrier: Readonly<Record<string, string | undefined>>,
  base: Context = context.active(),
): Context {
  return propagation.extract(base, carrier);
}
