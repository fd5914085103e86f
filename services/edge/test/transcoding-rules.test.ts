import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDescriptorSet } from '../src/http-bindings.ts';
import { startEdge } from '../src/edge.ts';
import type { AccessLogEntry, Edge } from '../src/edge.ts';
import { buildProbeDescriptor, startProbeServer } from './fixtures/probe-server.ts';
import type { ProbeServer } from './fixtures/probe-server.ts';

// The transcoder's rules on their own, through real HTTP and a real gRPC server, with the test-only
// edgetest.v1.ProbeService whose unary methods echo the request message the edge built.

let probe: ProbeServer;
let edge: Edge;
const log: AccessLogEntry[] = [];

beforeAll(async () => {
  const descriptorPath = buildProbeDescriptor();
  probe = await startProbeServer(loadDescriptorSet(descriptorPath));
  edge = await startEdge({
    port: 0,
    descriptorPath,
    upstreams: { 'edgetest.v1.ProbeService': probe.address },
    bodyLimitBytes: 4096,
    accessLog: (entry) => log.push(entry),
    cors: { allowOrigins: ['https://app.example'] },
  });
});

afterAll(async () => {
  await edge?.close();
  await probe?.close();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(edge.url + path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? JSON.parse(text) : undefined };
}

describe('path templates', () => {
  it('binds a single-segment variable', async () => {
    const r = await call('GET', '/v1/shelves/s1');
    expect(r.status).toBe(200);
    expect(r.json.name).toBe('shelves/s1');
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/GetShelf');
  });

  it('prefers a literal segment over a variable at the same position', async () => {
    await call('GET', '/v1/shelves/special');
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/GetSpecialShelf');
  });

  it('binds multi-segment variables and serves additional bindings', async () => {
    expect((await call('GET', '/v1/shelves/s1/books/b2')).json.name).toBe('shelves/s1/books/b2');
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/GetBook');
    const deep = await call('GET', '/v1/books/a/b/c');
    expect(deep.json.name).toBe('a/b/c');
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/GetBook');
    const viaPost = await call('POST', '/v1/shelves/s1/books/b2:get', { pageSize: 3 });
    expect(viaPost.json).toMatchObject({ name: 'shelves/s1/books/b2', pageSize: 3 });
  });

  it('lets ** match any number of segments', async () => {
    expect((await call('GET', '/v1/files/x')).json.path).toBe('x');
    expect((await call('GET', '/v1/files/x/y/z.txt')).json.path).toBe('x/y/z.txt');
  });

  it('splits a custom verb only when a template declares it', async () => {
    const moved = await call('POST', '/v1/shelves/s1/books/b1:move', { pageSize: 2 });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ name: 'shelves/s1/books/b1', pageSize: 2 });
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/MoveBook');
    // An undeclared verb stays part of the segment, which then is just an id containing ':'.
    const id = await call('GET', '/v1/shelves/s1:undeclared');
    expect(id.status).toBe(200);
    expect(id.json.name).toBe('shelves/s1:undeclared');
  });

  it('decodes percent-escapes in variables but keeps escaped reserved characters', async () => {
    const r = await call('GET', '/v1/shelves/caf%C3%A9%20bar%2Fbaz');
    expect(r.json.name).toBe('shelves/café bar%2Fbaz');
  });

  it('answers 400 for a variable whose escapes are not UTF-8', async () => {
    const r = await call('GET', '/v1/shelves/%E0%A4');
    expect(r.status).toBe(400);
    expect(r.json.code).toBe(3);
  });

  it('answers 404 for an unbound path, a wrong method and an unbound RPC', async () => {
    for (const [method, path] of [
      ['GET', '/v1/nowhere'],
      ['DELETE', '/v1/shelves/s1'],
      ['POST', '/edgetest.v1.ProbeService/Internal'],
      ['GET', '/v1/shelves/s1/'],
    ] as const) {
      const r = await call(method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json).toMatchObject({ code: 5, details: [] });
      expect(r.json.message).toContain(path);
    }
  });

  it('serves custom HTTP methods', async () => {
    const r = await fetch(`${edge.url}/v1/custom`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(probe.calls.at(-1)!.path).toBe('/edgetest.v1.ProbeService/Custom');
  });
});

describe('bodies', () => {
  it('maps body "*" onto the whole request, the path variable winning over the body', async () => {
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', { name: 'ignored', page_size: 5, book: { title: 'T' } });
    expect(r.json).toMatchObject({ name: 'shelves/s1/books/b1', pageSize: 5, book: { title: 'T' } });
  });

  it('maps body "<field>" onto that field and nested path variables into it', async () => {
    const r = await call('PATCH', '/v1/shelves/s1/books/b1?updateMask=title,pages', { title: 'New', pages: 10 });
    expect(r.status).toBe(200);
    expect(r.json.book).toEqual({ name: 'shelves/s1/books/b1', title: 'New', pages: 10 });
    expect(r.json.updateMask).toBe('title,pages');
  });

  it('maps a body onto a repeated field', async () => {
    const r = await call('POST', '/v1/shelves/s1:addTags', ['a', 'b']);
    expect(r.json.tags).toEqual(['a', 'b']);
  });

  it('accepts an empty body as an empty message', async () => {
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', '');
    expect(r.status).toBe(200);
  });

  it('rejects malformed JSON with 400 and a clear message', async () => {
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', '{"pageSize": ');
    expect(r.status).toBe(400);
    expect(r.json.code).toBe(3);
    expect(r.json.message).toMatch(/not valid JSON/);
  });

  it('rejects unknown and mistyped body fields with 400', async () => {
    expect((await call('POST', '/v1/shelves/s1/books/b1:move', { nope: 1 })).status).toBe(400);
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', { pageSize: 'many' });
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('page_size');
  });

  it('rejects a body over the limit with 413', async () => {
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', { name: 'x'.repeat(5000) });
    expect(r.status).toBe(413);
    expect(r.json.code).toBe(3);
  });

  it('rejects a non-JSON content type with 415', async () => {
    const r = await call('POST', '/v1/shelves/s1/books/b1:move', 'pageSize=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
  });
});

describe('query parameters', () => {
  it('maps scalars, nested fields, repeated values, enums by name and number, and well-known types', async () => {
    const query = [
      'pageSize=25',
      'big=9007199254740993',
      'flag=true',
      'color=COLOR_RED',
      'tags=a&tags=b%20c&tags=d+e',
      'colors=COLOR_BLUE&colors=1',
      'filter.minPages=3',
      'filter.author_book.title=Dune',
      'update_mask=title,filter.minPages',
      'since=2026-01-02T03:04:05Z',
      'ratio=0.5',
      'note=',
      'maybe=false',
    ].join('&');
    const r = await call('GET', `/v1/search?${query}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      pageSize: 25,
      big: '9007199254740993',
      flag: true,
      color: 'COLOR_RED',
      tags: ['a', 'b c', 'd e'],
      colors: ['COLOR_BLUE', 'COLOR_RED'],
      filter: { minPages: 3, authorBook: { title: 'Dune' } },
      updateMask: 'title,filter.minPages',
      since: '2026-01-02T03:04:05Z',
      ratio: 0.5,
      note: '',
      maybe: false,
    });
  });

  it('rejects unknown query parameters with 400', async () => {
    const r = await call('GET', '/v1/search?pageSize=1&bogus=2');
    expect(r.status).toBe(400);
    expect(r.json.message).toContain('bogus');
  });

  it('rejects values that do not fit their field with 400', async () => {
    for (const q of ['flag=yes', 'pageSize=ten', 'color=COLOR_GREEN', 'labels=x', 'book=x', 'since=yesterday']) {
      const r = await call('GET', `/v1/search?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.code, q).toBe(3);
    }
  });

  it('lets a path variable win over the same field in the query', async () => {
    const r = await call('GET', '/v1/shelves/s1?name=other&pageSize=2');
    expect(r.json).toMatchObject({ name: 'shelves/s1', pageSize: 2 });
  });
});

describe('responses', () => {
  it('prints fields without presence even when unset, int64 as strings, enums as names, and omits unset messages', async () => {
    const r = await call('GET', '/v1/shelves/s1');
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(r.json).toEqual({
      name: 'shelves/s1',
      parent: '',
      pageSize: 0,
      big: '0',
      flag: false,
      color: 'COLOR_UNSPECIFIED',
      tags: [],
      colors: [],
      path: '',
      ratio: 0,
      labels: {},
    });
  });

  it('sends only the response_body field when the rule names one', async () => {
    const r = await call('GET', '/v1/shelves/s1/books/b1/title?book.title=Dune');
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ name: '', title: 'Dune', pages: 0 });
  });

  it('passes service metadata through as response headers', async () => {
    const r = await call('GET', '/v1/shelves/s1');
    expect(r.headers.get('x-probe')).toBe('echo');
  });
});

describe('errors', () => {
  const table: [number, number][] = [
    [3, 400], [9, 400], [11, 400], [16, 401], [7, 403], [5, 404], [6, 409], [10, 409],
    [8, 429], [12, 501], [14, 503], [4, 504], [2, 500], [13, 500], [15, 500],
  ];
  it.each(table)('maps gRPC code %i to HTTP %i with a google.rpc.Status body', async (code, httpStatus) => {
    const r = await call('POST', '/v1/fail', { pageSize: code, name: `failed with ${code}` });
    expect(r.status).toBe(httpStatus);
    expect(r.json).toEqual({ code, message: `failed with ${code}`, details: [] });
    expect(r.headers.get('grpc-status')).toBe(String(code));
  });

  it('decodes google.rpc details from grpc-status-details-bin and forwards error metadata', async () => {
    const r = await call('POST', '/v1/fail', { pageSize: 3, name: 'bad email', flag: true });
    expect(r.status).toBe(400);
    expect(r.headers.get('retry-after')).toBe('7');
    expect(r.json).toEqual({
      code: 3,
      message: 'bad email',
      details: [
        { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'email', description: 'must contain @', reason: '' }] },
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'PROBE_FAILED', domain: 'edgetest', metadata: { attempt: '1' } },
      ],
    });
  });
});

describe('server streaming', () => {
  it('sends each message as one line of JSON', async () => {
    const response = await fetch(`${edge.url}/v1/shelves/s1:watch?pageSize=3`);
    expect(response.status).toBe(200);
    const lines = (await response.text()).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).pageSize)).toEqual([0, 1, 2]);
    expect(JSON.parse(lines[0]!).name).toBe('shelves/s1');
  });

  it('answers an error status when the stream fails before its first message', async () => {
    const r = await call('GET', '/v1/shelves/s1:watch?pageSize=0&big=7');
    expect(r.status).toBe(403);
    expect(r.json).toMatchObject({ code: 7, message: 'stream failed as asked' });
  });

  it('ends the stream with the gRPC status in trailers when it fails after messages', async () => {
    // fetch cannot read trailers; node's HTTP client can.
    const { status, body, trailers } = await new Promise<{ status: number; body: string; trailers: NodeJS.Dict<string> }>((resolve, reject) => {
      get(`${edge.url}/v1/shelves/s1:watch?pageSize=2&big=13`, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body, trailers: response.trailers }));
      }).on('error', reject);
    });
    expect(status).toBe(200);
    expect(body.trim().split('\n').map((l) => JSON.parse(l).pageSize)).toEqual([0, 1]);
    expect(trailers['grpc-status']).toBe('13');
    expect(decodeURIComponent(trailers['grpc-message']!)).toBe('stream failed as asked');
  });
});

describe('stream cancellation', () => {
  it('cancels the upstream stream when the HTTP client goes away', async () => {
    const abort = new AbortController();
    const response = await fetch(`${edge.url}/v1/shelves/endless:watch?pageSize=-1`, { signal: abort.signal });
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(JSON.parse(new TextDecoder().decode(first.value)).name).toBe('shelves/endless');
    abort.abort();
    await expect.poll(() => probe.cancelledStreams).toContain('shelves/endless');
  });

  it('ends open streams when the edge closes', async () => {
    const descriptorPath = buildProbeDescriptor();
    const second = await startEdge({ port: 0, descriptorPath, upstreams: { 'edgetest.v1.ProbeService': probe.address }, accessLog: false });
    const response = await fetch(`${second.url}/v1/shelves/closing:watch?pageSize=-1`);
    const reader = response.body!.getReader();
    await reader.read();
    await second.close();
    await expect.poll(() => probe.cancelledStreams).toContain('shelves/closing');
  });
});

describe('headers, CORS, health and the access log', () => {
  it('forwards authorization, trace context, the request id and x-forwarded-for with the peer appended', async () => {
    const r = await call('GET', '/v1/shelves/s1', undefined, {
      authorization: 'Bearer t0k3n',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'k=v',
      'x-request-id': 'req-123',
      'x-forwarded-for': '203.0.113.9',
    });
    expect(r.headers.get('x-request-id')).toBe('req-123');
    const metadata = probe.calls.at(-1)!.metadata;
    expect(metadata.get('authorization')).toEqual(['Bearer t0k3n']);
    expect(metadata.get('traceparent')).toEqual(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
    expect(metadata.get('tracestate')).toEqual(['k=v']);
    expect(metadata.get('x-request-id')).toEqual(['req-123']);
    expect(metadata.get('x-forwarded-for')).toEqual(['203.0.113.9, 127.0.0.1']);
  });

  it('generates a request id when the client sends none and returns it', async () => {
    const r = await call('GET', '/v1/shelves/s1');
    const id = r.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(probe.calls.at(-1)!.metadata.get('x-request-id')).toEqual([id]);
  });

  it('answers CORS preflights for allowed origins only', async () => {
    const allowed = await fetch(`${edge.url}/v1/shelves/s1`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');
    const other = await fetch(`${edge.url}/v1/shelves/s1`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(other.status).toBe(404);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reports health from the upstream grpc.health.v1', async () => {
    const ok = await call('GET', '/healthz');
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ status: 'SERVING', upstreams: { 'edgetest.v1.ProbeService': 'SERVING' } });
    probe.setServing(false);
    try {
      const down = await call('GET', '/healthz');
      expect(down.status).toBe(503);
      expect(down.json.upstreams['edgetest.v1.ProbeService']).toBe('NOT_SERVING');
    } finally {
      probe.setServing(true);
    }
  });

  it('logs one JSON entry per request without the query string', async () => {
    await call('GET', '/v1/search?pageSize=1', undefined, { 'x-request-id': 'logged-1' });
    await expect.poll(() => log.find((e) => e.requestId === 'logged-1')).toBeDefined();
    const entry = log.find((e) => e.requestId === 'logged-1')!;
    expect(entry).toMatchObject({ method: 'GET', path: '/v1/search', status: 200, grpcStatus: 0, grpcMethod: '/edgetest.v1.ProbeService/Search' });
  });
});
