// The generated client (gen/client) over real HTTP, against a node:http server that answers the way
// Envoy's grpc_json_transcoder does: JSON bodies, google.rpc.Status errors, streams as one JSON array.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, Code, createClient } from '../../../gen/client/index.ts';

interface Received {
  method: string;
  path: string;
  rawQuery: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

type Responder = (req: IncomingMessage, res: ServerResponse, received: Received) => void;

let server: Server;
let baseUrl: string;
const received: Received[] = [];
const responders: Responder[] = [];
const closed: Promise<void>[] = [];

function answer(status: number, body: unknown): Responder {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://edge.invalid');
      const rawQuery = req.url!.includes('?') ? req.url!.slice(req.url!.indexOf('?') + 1) : '';
      const r: Received = { method: req.method!, path: url.pathname, rawQuery, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString() };
      received.push(r);
      closed.push(new Promise((resolve) => res.on('close', () => resolve())));
      const responder = responders.shift();
      if (!responder) {
        res.writeHead(500).end();
        return;
      }
      responder(req, res, r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  received.length = 0;
  responders.length = 0;
  closed.length = 0;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const user = { name: 'users/u1', email: 'ada@example.com', displayName: 'Ada', createTime: '2026-11-23T10:00:00Z', updateTime: '2026-11-23T10:00:00Z' };

describe('generated REST client', () => {
  it('posts SignUp to the custom-verb path with the whole request as body and asks no token for a public route', async () => {
    let tokenAsked = 0;
    const client = createClient({
      baseUrl: `${baseUrl}/`,
      getToken: () => {
        tokenAsked++;
        return 'should-not-be-sent';
      },
    });
    responders.push(answer(200, { user, accessToken: 'at', refreshToken: 'rt', expiresIn: 900 }));
    const res = await client.identity.signUp({ email: 'ada@example.com', password: 'correct horse battery', displayName: 'Ada' });
    expect(res).toEqual({ user, accessToken: 'at', refreshToken: 'rt', expiresIn: 900 });
    const [r] = received;
    expect(r!.method).toBe('POST');
    expect(r!.path).toBe('/v1/auth:signUp');
    expect(r!.rawQuery).toBe('');
    expect(r!.headers['content-type']).toBe('application/json');
    expect(r!.headers['authorization']).toBeUndefined();
    expect(JSON.parse(r!.body)).toEqual({ email: 'ada@example.com', password: 'correct horse battery', displayName: 'Ada' });
    expect(tokenAsked).toBe(0);
  });

  it('sends the bearer token from getToken, the client headers and the call headers on an authenticated GET without a body', async () => {
    const client = createClient({ baseUrl, getToken: async () => 'access-1', headers: { 'x-client': 'restgen-test', 'x-both': 'client' } });
    responders.push(answer(200, { user }));
    const res = await client.identity.getCurrentUser({}, { headers: { 'x-request-id': 'req-42', 'x-both': 'call' } });
    expect(res.user?.displayName).toBe('Ada');
    const [r] = received;
    expect(r!.method).toBe('GET');
    expect(r!.path).toBe('/v1/users/me');
    expect(r!.body).toBe('');
    expect(r!.headers['content-type']).toBeUndefined();
    expect(r!.headers['authorization']).toBe('Bearer access-1');
    expect(r!.headers['accept']).toBe('application/json');
    expect(r!.headers['x-client']).toBe('restgen-test');
    expect(r!.headers['x-request-id']).toBe('req-42');
    expect(r!.headers['x-both']).toBe('call');
  });

  it('sends through the fetch given in the options, and a fixed token', async () => {
    const urls: string[] = [];
    const client = createClient({
      baseUrl: `${baseUrl}/edge-prefix`,
      token: 'fixed',
      fetch: (input, init) => {
        urls.push(String(input));
        return fetch(input, init);
      },
    });
    responders.push(answer(200, { keys: [] }), answer(200, { user }));
    await client.identity.getJwks();
    await client.identity.getCurrentUser();
    expect(urls).toEqual([`${baseUrl}/edge-prefix/v1/jwks`, `${baseUrl}/edge-prefix/v1/users/me`]);
    expect(received.map((r) => r.headers['authorization'])).toEqual([undefined, 'Bearer fixed']);
  });

  it('fills multi-segment path variables and sends the remaining fields as query parameters (enums by name, %20 for spaces, RFC 3339 times)', async () => {
    const client = createClient({ baseUrl, token: 'static-token' });
    responders.push(answer(200, { tasks: [], nextPageToken: '' }));
    await client.task.listTasks({ parent: 'organizations/o1/boards/b1', pageSize: 10, status: 'TASK_STATUS_IN_PROGRESS', label: 'needs review', showArchived: true });
    responders.push(answer(200, { tasks: [], nextPageToken: '' }));
    await client.task.searchTasks({ parent: 'organizations/o1', query: 'fix login+signup', dueBefore: '2026-12-01T00:00:00Z' });
    const [list, search] = received;
    expect(list!.method).toBe('GET');
    expect(list!.path).toBe('/v1/organizations/o1/boards/b1/tasks');
    expect(list!.headers['authorization']).toBe('Bearer static-token');
    expect([...list!.query]).toEqual([
      ['pageSize', '10'],
      ['status', 'TASK_STATUS_IN_PROGRESS'],
      ['label', 'needs review'],
      ['showArchived', 'true'],
    ]);
    // Envoy does not turn "+" into a space in query values: spaces must travel as %20, "+" as %2B.
    expect(list!.rawQuery).toContain('label=needs%20review');
    expect(search!.path).toBe('/v1/organizations/o1/tasks');
    expect(search!.rawQuery).toBe('query=fix%20login%2Bsignup&dueBefore=2026-12-01T00%3A00%3A00Z');
  });

  it('PATCHes UpdateTask with the task as body, its name in the path and the field mask as a comma list', async () => {
    const client = createClient({ baseUrl, token: 't' });
    const task = { name: 'organizations/o1/boards/b1/tasks/t1', title: 'Ship it', status: 'TASK_STATUS_DONE' as const, etag: 'W/"3"' };
    responders.push(answer(200, { task }));
    const res = await client.task.updateTask({ task, updateMask: 'title,status' });
    expect(res.task?.title).toBe('Ship it');
    const [r] = received;
    expect(r!.method).toBe('PATCH');
    expect(r!.path).toBe('/v1/organizations/o1/boards/b1/tasks/t1');
    expect(r!.rawQuery).toBe('updateMask=title,status');
    expect(JSON.parse(r!.body)).toEqual(task);
  });

  it('POSTs a custom verb with body "*" minus the field the path already carries, and percent-encodes path segments', async () => {
    const client = createClient({ baseUrl, token: 't' });
    responders.push(answer(200, { task: { name: 'organizations/o1/boards/b1/tasks/t 1' } }));
    await client.task.moveTask({ name: 'organizations/o1/boards/b1/tasks/t 1', list: 'organizations/o1/boards/b1/lists/l2', beforeTask: 'organizations/o1/boards/b1/tasks/t9' });
    const [r] = received;
    expect(r!.method).toBe('POST');
    expect(r!.path).toBe('/v1/organizations/o1/boards/b1/tasks/t%201:move');
    expect(JSON.parse(r!.body)).toEqual({ list: 'organizations/o1/boards/b1/lists/l2', beforeTask: 'organizations/o1/boards/b1/tasks/t9' });
  });

  it('refuses to build a URL without its path variable, before any request is sent', async () => {
    const client = createClient({ baseUrl, token: 't' });
    // @ts-expect-error name is required by the type: it is part of the URL path
    await expect(client.task.getTask({})).rejects.toThrow(/request\.name is required/);
    await expect(client.task.getTask({ name: '' })).rejects.toThrow(TypeError);
    expect(received).toHaveLength(0);
  });

  it('throws ApiError with the google.rpc.Status code, message, details and the HTTP status', async () => {
    const client = createClient({ baseUrl, token: 't' });
    const details = [
      { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'TASK_NOT_FOUND', domain: 'taskmesh.dev', metadata: { task: 't1' } },
    ];
    responders.push(answer(404, { code: 5, message: 'task organizations/o1/boards/b1/tasks/t1 not found', details }));
    const error = await client.task.getTask({ name: 'organizations/o1/boards/b1/tasks/t1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    const apiError = error as ApiError;
    expect(apiError.code).toBe(Code.NOT_FOUND);
    expect(apiError.codeName).toBe('NOT_FOUND');
    expect(apiError.httpStatus).toBe(404);
    expect(apiError.message).toBe('task organizations/o1/boards/b1/tasks/t1 not found');
    expect(apiError.details).toEqual(details);
    expect(apiError.findDetail('google.rpc.ErrorInfo')?.['reason']).toBe('TASK_NOT_FOUND');
    expect(apiError.procedure).toBe('taskmesh.task.v1.TaskService/GetTask');
  });

  it('maps an error response without a Status body (a proxy page) to a code from the HTTP status', async () => {
    const client = createClient({ baseUrl, token: 't' });
    responders.push((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      res.end('<html>upstream connect error</html>');
    });
    const error = (await client.identity.getCurrentUser().catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe(Code.UNAVAILABLE);
    expect(error.httpStatus).toBe(503);
    expect(error.message).toContain('upstream connect error');
  });

  it('reports a refused connection as UNAVAILABLE with no HTTP status', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const deadPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const client = createClient({ baseUrl: `http://127.0.0.1:${deadPort}`, token: 't' });
    const error = (await client.identity.getCurrentUser().catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.code).toBe(Code.UNAVAILABLE);
    expect(error.httpStatus).toBe(0);
  });

  const boardEvent = (id: string) => ({
    event: {
      id,
      type: 'taskmesh.task.v1.TaskCreated',
      organization: 'organizations/o1',
      actor: 'users/u1',
      resource: 'organizations/o1/boards/b1/tasks/t1',
      occurTime: '2026-11-23T10:00:00Z',
      payload: { '@type': 'type.googleapis.com/taskmesh.task.v1.TaskCreated', title: 'a "quoted" } ] , title\nwith a newline' },
    },
  });

  // Each framing is written in three pieces; the last two only after the client handed out the first message.
  const framings = {
    'newline-delimited, as envoy.yaml frames streams': (m: string[]) => [`${m[0]}\n`, `${m[1]}\n`, `${m[2]}\n`],
    "Envoy's default, one JSON array written element by element": (m: string[]) => [`[${m[0]}`, `,${m[1]}`, `,${m[2]}]`],
  };

  for (const [framing, pieces] of Object.entries(framings)) {
    it(`yields each WatchBoard message as soon as it arrives (${framing})`, async () => {
      const client = createClient({ baseUrl, token: 't' });
      const [first, second, third] = pieces(['e1', 'e2', 'e3'].map((id) => JSON.stringify(boardEvent(id))));
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      responders.push((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(first);
        void gate.then(() => {
          res.write(second);
          res.end(third);
        });
      });
      const seen: string[] = [];
      for await (const message of client.board.watchBoard({ name: 'organizations/o1/boards/b1' })) {
        seen.push(message.event!.id);
        expect(message).toEqual(boardEvent(message.event!.id));
        if (seen.length === 1) release();
      }
      expect(seen).toEqual(['e1', 'e2', 'e3']);
      const [r] = received;
      expect(r!.method).toBe('GET');
      expect(r!.path).toBe('/v1/organizations/o1/boards/b1:watch');
      expect(r!.headers['authorization']).toBe('Bearer t');
    });
  }

  it('closes the connection when the caller stops iterating a stream early', async () => {
    const client = createClient({ baseUrl, token: 't' });
    responders.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"event":{"id":"e1"}}\n'); // and never ends, like a live board
    });
    for await (const message of client.board.watchBoard({ name: 'organizations/o1/boards/b1' })) {
      expect(message.event?.id).toBe('e1');
      break;
    }
    await closed[0]; // resolves only once the server side sees the connection go away
  });

  it('fails a stream that is cut off, and one refused with an error status before it started', async () => {
    const client = createClient({ baseUrl, token: 't' });
    const collect = async () => {
      const ids: string[] = [];
      const error = await (async () => {
        for await (const m of client.board.watchBoard({ name: 'organizations/o1/boards/b1' })) ids.push(m.event!.id);
      })().catch((e: unknown) => e);
      return { ids, error: error as ApiError | undefined };
    };
    // A JSON array that never closes.
    responders.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('[{"event":{"id":"e1"}},');
    });
    const unclosed = await collect();
    expect(unclosed.ids).toEqual(['e1']);
    expect(unclosed.error).toBeInstanceOf(ApiError);
    expect(unclosed.error!.code).toBe(Code.UNKNOWN);
    // A connection dropped in the middle of a newline-delimited message.
    responders.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"event":{"id":"e1"}}\n{"event":{"id":');
      setImmediate(() => res.socket!.destroy());
    });
    const dropped = await collect();
    expect(dropped.ids).toEqual(['e1']);
    expect(dropped.error).toBeInstanceOf(ApiError);
    expect([Code.UNKNOWN, Code.UNAVAILABLE]).toContain(dropped.error!.code);

    responders.push(answer(403, { code: 7, message: 'not a member of organizations/o1', details: [] }));
    const refused = await collect();
    expect(refused.ids).toEqual([]);
    expect(refused.error).toBeInstanceOf(ApiError);
    expect(refused.error!.codeName).toBe('PERMISSION_DENIED');
    expect(refused.error!.httpStatus).toBe(403);
  });

  it('also reads SSE-style stream framing', async () => {
    const client = createClient({ baseUrl, token: 't' });
    responders.push((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: {"event":{"id":"s1"}}\n\ndata: {"event":{"id":"s2"}}\n\n');
    });
    const seen: string[] = [];
    for await (const m of client.board.watchBoard({ name: 'organizations/o1/boards/b1' })) seen.push(m.event!.id);
    expect(seen).toEqual(['s1', 's2']);
  });
});
