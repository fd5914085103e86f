import { fromBinary } from '@bufbuild/protobuf';
import type { Registry } from '@bufbuild/protobuf';

const retryInfoUrl = 'type.googleapis.com/google.rpc.RetryInfo';

/**
 * The Retry-After value (whole seconds, rounded up, at least 1) of a google.rpc.RetryInfo detail in a
 * `grpc-status-details-bin` Status; undefined when there is none or it cannot be read.
 */
export function retryAfterSeconds(statusDetailsBin: Uint8Array | undefined, registry: Registry): number | undefined {
  if (!statusDetailsBin || statusDetailsBin.length === 0) return undefined;
  const statusSchema = registry.getMessage('google.rpc.Status');
  const retryInfoSchema = registry.getMessage('google.rpc.RetryInfo');
  if (!statusSchema || !retryInfoSchema) return undefined;
  try {
    const status = fromBinary(statusSchema, statusDetailsBin) as unknown as { details: { typeUrl: string; value: Uint8Array }[] };
    const detail = status.details.find((d) => d.typeUrl === retryInfoUrl);
    if (!detail) return undefined;
    const info = fromBinary(retryInfoSchema, detail.value) as unknown as { retryDelay?: { seconds: bigint; nanos: number } };
    if (!info.retryDelay) return undefined;
    const seconds = Number(info.retryDelay.seconds) + (info.retryDelay.nanos > 0 ? 1 : 0);
    return Number.isFinite(seconds) ? Math.max(1, seconds) : undefined;
  } catch {
    return undefined;
  }
}
