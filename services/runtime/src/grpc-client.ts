import { Metadata, type CallOptions, type Client, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
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
  return new Promise((resolve, reject) => {
    method.call(client, request, options.metadata ?? new Metadata(), callOptions, (err, res) => {
      meter.record(err ? (err.code ?? 2) : 0, startedAt);
      if (err) reject(err);
      else resolve(res);
    });
  });
}
