import { create, createFileRegistry, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { loadDescriptorSet } from './http-bindings.ts';
import { defaultDescriptorPath } from './edge.ts';
import { errorBody, httpStatusForGrpcCode } from './status-mapping.ts';

describe('httpStatusForGrpcCode', () => {
  it('follows the table in API.md and maps every other code to 500', () => {
    const expected = [200, 500, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];
    expect(expected.map((_, code) => httpStatusForGrpcCode(code))).toEqual(expected);
    expect(httpStatusForGrpcCode(99)).toBe(500);
  });
});

describe('errorBody', () => {
  const registry = loadDescriptorSet(defaultDescriptorPath);

  it('is code, message and empty details without a status trailer', () => {
    expect(errorBody(5, 'board not found', undefined, registry)).toEqual({ code: 5, message: 'board not found', details: [] });
  });

  it('prints details of the status trailer as JSON through the descriptor set', () => {
    const status = registry.getMessage('google.rpc.Status')!;
    const info = registry.getMessage('google.rpc.ErrorInfo')!;
    const bin = toBinary(status, create(status, {
      code: 16,
      message: 'token expired',
      details: [{ typeUrl: 'type.googleapis.com/google.rpc.ErrorInfo', value: toBinary(info, create(info, { reason: 'TOKEN_EXPIRED', domain: 'taskmesh.dev' } as never)) }],
    } as never));
    expect(errorBody(16, 'ignored', bin, registry)).toEqual({
      code: 16,
      message: 'token expired',
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'TOKEN_EXPIRED', domain: 'taskmesh.dev', metadata: {} }],
    });
  });

  it('keeps a detail of a type outside the descriptor set visible as base64', () => {
    const status = registry.getMessage('google.rpc.Status')!;
    const bin = toBinary(status, create(status, { code: 3, message: 'm', details: [{ typeUrl: 'type.googleapis.com/x.Unknown', value: new Uint8Array([1, 2]) }] } as never));
    expect(errorBody(3, 'm', bin, registry).details).toEqual([{ '@type': 'type.googleapis.com/x.Unknown', value: 'AQI=' }]);
  });

  it('falls back to code and message when the trailer is not a Status', () => {
    expect(errorBody(13, 'boom', new Uint8Array([0xff, 0xff]), createFileRegistry())).toEqual({ code: 13, message: 'boom', details: [] });
  });
});
