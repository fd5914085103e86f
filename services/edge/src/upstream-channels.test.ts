import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamChannels } from './upstream-channels.ts';

// UpstreamChannels.unary calls the channel directly; every outcome must be what grpc-js's own
// Client.makeUnaryRequest gives on the same server (real grpc-js server and client, raw bytes).

const raw = (b: Buffer) => b;
let server: grpc.Server;
let address: string;
const channels = new UpstreamChannels();
let reference: grpc.Client;

beforeAll(async () => {
  server = new grpc.Server();
  const unary = (name: string, handler: grpc.handleUnaryCall<Buffer, Buffer>) => server.register(`/t.T/${name}`, handler, raw, raw, 'unary');
  unary('Echo', (call, callback) => {
    const initial = new grpc.Metadata();
    initial.set('x-seen-request-id', String(call.metadata.get('x-request-id')[0] ?? ''));
    call.sendMetadata(initial);
    callback(null, Buffer.concat([Buffer.from('echo:'), call.request]));
  });
  unary('Fail', (_call, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set('retry-after', '7');
    metadata.set('grpc-status-details-bin', Buffer.from([1, 2, 3]));
    callback({ code: grpc.status.FAILED_PRECONDITION, details: 'not now', metadata });
  });
  unary('Slow', (_call, callback) => {
    setTimeout(() => callback(null, Buffer.from('late')), 2_000).unref();
  });
  // Served as a stream, called as unary: a unary client must refuse an OK status without an answer.
  server.register('/t.T/None', (call: grpc.ServerWritableStream<Buffer, Buffer>) => call.end(), raw, raw, 'serverStream');
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  address = `127.0.0.1:${port}`;
  reference = new grpc.Client(address, grpc.credentials.createInsecure());
});

afterAll(() => {
  channels.close();
  reference.close();
  server.forceShutdown();
});

type Outcome = { ok: true; bytes: string; headers: Record<string, unknown> } | { ok: false; code?: number; details?: string; message: string; metadata: Record<string, unknown> };

function metadataFor(requestId: string) {
  const metadata = new grpc.Metadata();
  metadata.set('x-request-id', requestId);
  return metadata;
}

async function viaEdge(target: string, path: string, deadline?: Date): Promise<Outcome> {
  try {
    const { bytes, headers } = await channels.unary(target, path, Buffer.from('ping'), metadataFor('r1'), deadline);
    return { ok: true, bytes: bytes.toString(), headers: headers.getMap() };
  } catch (error) {
    const e = error as grpc.ServiceError;
    return { ok: false, code: e.code, details: e.details, message: e.message, metadata: e.metadata?.getMap() ?? {} };
  }
}

function viaClient(client: grpc.Client, path: string, deadline?: Date): Promise<Outcome> {
  return new Promise((resolve) => {
    let headers = new grpc.Metadata();
    const call = client.makeUnaryRequest<Buffer, Buffer>(path, raw, raw, Buffer.from('ping'), metadataFor('r1'), deadline ? { deadline } : {}, (error, response) => {
      if (error) resolve({ ok: false, code: error.code, details: error.details, message: error.message, metadata: error.metadata?.getMap() ?? {} });
      else resolve({ ok: true, bytes: response!.toString(), headers: headers.getMap() });
    });
    call.on('metadata', (received: grpc.Metadata) => {
      headers = received;
    });
  });
}

/** What may differ between two calls: the date header, the timings grpc-js puts in a deadline's details. */
function comparable(outcome: Outcome): Outcome {
  if (!outcome.ok) {
    const timings = / after [\d.]+s.*$/;
    return { ...outcome, details: outcome.details?.replace(timings, ''), message: outcome.message.replace(timings, '') };
  }
  const { date: _date, ...headers } = outcome.headers;
  return { ...outcome, headers };
}

describe('UpstreamChannels.unary', () => {
  it.each(['Echo', 'Fail', 'None'])('answers /t.T/%s exactly as grpc-js Client.makeUnaryRequest does', async (method) => {
    const edge = await viaEdge(address, `/t.T/${method}`, new Date(Date.now() + 10_000));
    const client = await viaClient(reference, `/t.T/${method}`, new Date(Date.now() + 10_000));
    expect(comparable(edge)).toEqual(comparable(client));
  });

  it('returns the answer and the initial metadata, and sends the request metadata', async () => {
    const edge = await viaEdge(address, '/t.T/Echo');
    expect(edge).toMatchObject({ ok: true, bytes: 'echo:ping', headers: { 'x-seen-request-id': 'r1' } });
  });

  it('fails with the status, its details and trailers', async () => {
    const edge = await viaEdge(address, '/t.T/Fail');
    expect(edge).toMatchObject({ ok: false, code: grpc.status.FAILED_PRECONDITION, details: 'not now', message: '9 FAILED_PRECONDITION: not now' });
    expect(edge.ok ? undefined : edge.metadata['retry-after']).toBe('7');
    expect(edge.ok ? undefined : edge.metadata['grpc-status-details-bin']).toEqual(Buffer.from([1, 2, 3]));
  });

  it('ends a call at its deadline with DEADLINE_EXCEEDED, as grpc-js does', async () => {
    const edge = await viaEdge(address, '/t.T/Slow', new Date(Date.now() + 100));
    const client = await viaClient(reference, '/t.T/Slow', new Date(Date.now() + 100));
    expect(edge).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
    expect(comparable(edge)).toEqual(comparable(client));
  });

  it('fails with UNAVAILABLE when nothing listens at the address, as grpc-js does', async () => {
    const probe = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) =>
      probe.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    probe.forceShutdown();
    const closed = `127.0.0.1:${port}`;
    const edge = await viaEdge(closed, '/t.T/Echo', new Date(Date.now() + 5_000));
    const direct = new grpc.Client(closed, grpc.credentials.createInsecure());
    try {
      const client = await viaClient(direct, '/t.T/Echo', new Date(Date.now() + 5_000));
      expect(edge).toMatchObject({ ok: false, code: grpc.status.UNAVAILABLE });
      expect(edge.ok ? undefined : edge.code).toBe(client.ok ? undefined : client.code);
    } finally {
      direct.close();
    }
  });

  it('reports the health of the server', async () => {
    // Nothing registers grpc.health.v1 here: the check fails and reads as NOT_SERVING.
    expect(await channels.health(address, 2_000)).toBe('NOT_SERVING');
  });
});
