import type { Metadata } from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind, context, propagation, trace, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { serviceOfProtoName, withService } from './current-service.ts';
import { RpcMethodMeter } from './rpc-metrics.ts';

/** Set by telemetry.ts when server spans are left to bindService (no exporter: spans do not record). */
function serverSpansHere(): boolean {
  return (globalThis as { [key: symbol]: { serverSpans?: boolean } | undefined })[Symbol.for('taskmesh.telemetry')]?.serverSpans === true;
}

// As the gRPC instrumentation reads a call's metadata.
const metadataGetter: TextMapGetter<Metadata> = {
  get: (carrier, key) => carrier.get(key).map(String),
  keys: (carrier) => Object.keys(carrier.getMap()),
};
let tracer: Tracer | undefined;

/** Serves one call; resolves to the gRPC status code it ended with. */
export type ObservedServe<A extends unknown[]> = (...args: A) => Promise<number>;

/**
 * What bindService wraps around every handler of one method: the call runs in its service's context (so its
 * spans and metrics are that service's, current-service.ts) and its duration goes to rpc.server.duration.
 * Without an exporter it also makes the call's server span, as the gRPC instrumentation would: the parent from
 * the call's metadata (a new trace without one), the span active for the handler and everything it starts.
 * That span records nothing, so it is not ended. With an exporter the instrumentation's span is the server span.
 */
export function serverCallObserver(path: string): <A extends unknown[]>(metadata: Metadata, serve: ObservedServe<A>, ...args: A) => Promise<void> {
  const service = serviceOfProtoName(path) ?? 'unknown';
  const meter = new RpcMethodMeter('server', service, path);
  const spanName = `grpc.${path.slice(1)}`;
  return async (metadata, serve, ...args) => {
    const startedAt = performance.now();
    let parent = context.active();
    if (serverSpansHere()) {
      const extracted = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
      const span = (tracer ??= trace.getTracer('@taskmesh/runtime/grpc-server')).startSpan(spanName, { kind: SpanKind.SERVER }, extracted);
      parent = trace.setSpan(extracted, span);
    }
    const code = await context.with(withService(parent, service), serve, undefined, ...args);
    meter.record(code, startedAt);
  };
}
