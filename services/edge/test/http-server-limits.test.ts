import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readHttpServerLimits } from '../src/edge-config.ts';
import { startEdge, type Edge } from '../src/edge.ts';

// No upstreams: a bound route answers 503 once its request is read, which is all these tests need.
let edge: Edge;
const bodyLimitBytes = 64 * 1024;
beforeAll(async () => {
  edge = await startEdge({
    port: 0,
    upstreams: {},
    accessLog: false,
    bodyLimitBytes,
    httpLimits: { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300, maxHeadersCount: 20, maxHeaderSizeBytes: 4096 },
  });
});
afterAll(async () => {
  await edge?.close();
});

/** A raw connection to the edge, collecting everything it answers until the server closes it. */
function rawConnection(): { socket: Socket; closed: Promise<{ received: string; error: string | undefined }> } {
  const socket = connect(edge.port, '127.0.0.1');
  let received = '';
  let error: string | undefined;
  socket.on('data', (chunk) => (received += chunk.toString('latin1')));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code));
  const closed = new Promise<{ received: string; error: string | undefined }>((resolve) => socket.on('close', () => resolve({ received, error })));
  return { socket, closed };
}

describe('the edge HTTP server limits', () => {
  it('drops a client trickling its headers once the headers timeout passes', async () => {
    const { socket, closed } = rawConnection();
    socket.write('GET /healthz HTTP/1.1\r\nHost: edge\r\n');
    const trickle = setInterval(() => !socket.destroyed && socket.write('x'), 50);
    const { received } = await closed;
    clearInterval(trickle);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('drops a client whose body never completes once the request timeout passes', async () => {
    const { socket, closed } = rawConnection();
    socket.write('POST /v1/auth:logIn HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"email":');
    const { received } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes an idle keep-alive connection after the keep-alive timeout', async () => {
    const { socket, closed } = rawConnection();
    socket.write('GET /v1/users/me HTTP/1.1\r\nHost: edge\r\n\r\n');
    const { received, error } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 503/);
    expect(error).toBeUndefined();
  });

  it('refuses headers over the size limit with 431', async () => {
    const { socket, closed } = rawConnection();
    socket.write(`GET /v1/users/me HTTP/1.1\r\nHost: edge\r\nX-Big: ${'a'.repeat(8_000)}\r\n\r\n`);
    expect((await closed).received).toMatch(/^HTTP\/1\.1 431/);
  });

  it('refuses more headers than the count limit with 431 and answers a request within it', async () => {
    const send = async (count: number) => {
      const headers = Array.from({ length: count }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
      const { socket, closed } = rawConnection();
      socket.end(`GET /v1/users/me HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n${headers}\r\n`);
      return (await closed).received;
    };
    expect(await send(10)).toMatch(/^HTTP\/1\.1 503/);
    expect(await send(60)).toMatch(/^HTTP\/1\.1 431/);
  });

  for (const method of ['GET', 'DELETE']) {
    it(`ignores a ${method} body within the limit on a binding without one, and refuses one over it with 413, never a reset`, async () => {
      const send = (size: number) =>
        new Promise<{ status: number | undefined; error: string | undefined }>((resolve) => {
          let status: number | undefined;
          const req = request(`${edge.url}/v1/organizations/o1`, { method, headers: { 'content-type': 'application/json', 'content-length': size } }, (res) => {
            status = res.statusCode;
            res.resume();
            res.on('end', () => setTimeout(() => resolve({ status, error: undefined }), 20));
          });
          req.on('error', (err: NodeJS.ErrnoException) => resolve({ status, error: err.code }));
          req.end(Buffer.alloc(size, 'a'));
        });
      expect(await send(bodyLimitBytes - 1)).toEqual({ status: 503, error: undefined });
      expect(await send(120 * 1024)).toEqual({ status: 413, error: undefined });
      expect(await send(4 * 1024 * 1024)).toEqual({ status: 413, error: undefined });
    });
  }

  it('answers an over-limit body sent on a raw socket with 413 before the connection ends, without a reset', async () => {
    const { socket, closed } = rawConnection();
    const size = 2 * 1024 * 1024;
    socket.write(`GET /v1/users/me HTTP/1.1\r\nHost: edge\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
    socket.end(Buffer.alloc(size, 'a'));
    const { received, error } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 413/);
    expect(error).toBeUndefined();
  });

  it('reads each limit from its environment variable, refusing a bad value by name', () => {
    expect(readHttpServerLimits({ EDGE_HEADERS_TIMEOUT_MS: '5000', EDGE_MAX_HEADERS_COUNT: '50' })).toEqual({ headersTimeoutMs: 5000, maxHeadersCount: 50 });
    expect(() => readHttpServerLimits({ EDGE_REQUEST_TIMEOUT_MS: 'soon' })).toThrow(/EDGE_REQUEST_TIMEOUT_MS/);
  });
});
