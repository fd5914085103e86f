import { Metadata, type CallOptions, type Client, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { SpanKind, context, propagation, trace, type TextMapSetter } from '@opentelemetry/api';
import { currentService } from './current-service.ts';
import { clientMethodMeter } from './rpc-metrics.ts';

/** The four-argument overload every ts-proto grpc-js client method has. */
export type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface UnaryCallOptions {
  metadata?: Metadata;
  /** Milliseconds from now; DEFAULT_CALL_TIMEOUT_MS when absent. */
  timeoutMs?: number;
}

const metadataSetter: TextMapSetter<Metadata> = { set: (metadata, key, value) => metadata.set(key, value) };

/** True when telemetry patches no gRPC client (no exporter): callUnary then carries the trace context itself. */
function injectsContextItself(): boolean {
  return (globalThis as { [key: symbol]: { injectClientContext?: boolean } | undefined })[Symbol.for('taskmesh.telemetry')]?.injectClientContext === true;
}

/** No call between services waits forever: one without a deadline of its own gets this one. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;

/** Calls a generated client's unary method as a promise, always with a deadline; its duration goes to rpc.client.duration. */
export function callUnary<C extends Client, Req, Res>(
  client: C,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: UnaryCallOptions = {},
): Promise<Res> {
  const callOptions: Partial<CallOptions> = { deadline: Date.now() + (options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) };
  // grpc-js puts the method's path on the generated client's method functions.
  const meter = clientMethodMeter(currentService() ?? 'unknown', (method as { path?: string }).path ?? '/unknown/unknown');
  const startedAt = performance.now();
  const metadata = options.metadata ?? new Metadata();
  if (injectsContextItself()) {
    // A (non-recording) client span, as the gRPC instrumentation would make: the callee's server span is its child.
    const span = trace.getTracer('taskmesh-grpc-client').startSpan((method as { path?: string }).path ?? 'grpc call', { kind: SpanKind.CLIENT });
    propagation.inject(trace.setSpan(context.active(), span), metadata, metadataSetter);
  }
  return new Promise((resolve, reject) => {
    method.call(client, request, metadata, callOptions, (err, res) => {
      meter.record(err ? (err.code ?? 2) : 0, startedAt);
      if (err) reject(err);
      else resolve(res);
    });
  });
}
