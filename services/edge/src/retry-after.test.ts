import { describe, expect, it } from 'vitest';
import { Any } from '@taskmesh/gen/google/protobuf/any.js';
import { ErrorInfo, RetryInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { Status } from '@taskmesh/gen/google/rpc/status.js';
import { defaultDescriptorPath } from './edge.ts';
import { loadDescriptorSet } from './http-bindings.ts';
import { retryAfterSeconds } from './retry-after.ts';

const registry = loadDescriptorSet(defaultDescriptorPath);
const pack = (typeName: string, value: Uint8Array) => Any.fromPartial({ typeUrl: `type.googleapis.com/${typeName}`, value: Buffer.from(value) });
const statusWith = (...details: Any[]) => Status.encode(Status.fromPartial({ code: 8, message: 'slow down', details })).finish();
const retryIn = (seconds: number, nanos: number) => pack('google.rpc.RetryInfo', RetryInfo.encode(RetryInfo.fromPartial({ retryDelay: { seconds: String(seconds), nanos } })).finish());

describe('Retry-After from google.rpc.RetryInfo', () => {
  it('gives whole seconds, rounded up, at least one', () => {
    expect(retryAfterSeconds(statusWith(retryIn(12, 0)), registry)).toBe(12);
    expect(retryAfterSeconds(statusWith(retryIn(12, 1)), registry)).toBe(13);
    expect(retryAfterSeconds(statusWith(retryIn(0, 200_000_000)), registry)).toBe(1);
    expect(retryAfterSeconds(statusWith(retryIn(0, 0)), registry)).toBe(1);
  });

  it('finds the RetryInfo among other details and is absent without one', () => {
    const info = pack('google.rpc.ErrorInfo', ErrorInfo.encode(ErrorInfo.fromPartial({ reason: 'RATE_LIMITED' })).finish());
    expect(retryAfterSeconds(statusWith(info, retryIn(3, 0)), registry)).toBe(3);
    expect(retryAfterSeconds(statusWith(info), registry)).toBeUndefined();
    expect(retryAfterSeconds(undefined, registry)).toBeUndefined();
    expect(retryAfterSeconds(Buffer.from([0xff, 0xff]), registry)).toBeUndefined();
  });
});
