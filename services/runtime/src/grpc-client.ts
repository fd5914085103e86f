import { Metadata, type CallOptions, type Client, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';

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

/** Calls a generated client's unary method as a promise, always with a deadline. */
export function callUnary<C extends Client, Req, Res>(
  client: C,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: UnaryCallOptions = {},
): Promise<Res> {
  const callOptions: Partial<CallOptions> = { deadline: Date.now() + (options.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) };
  return new Promise((resolve, reject) => {
    method.call(client, request, options.metadata ?? new Metadata(), callOptions, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}
