import { get, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// Tests only: the whole stack (edge in front) from the edge's conformance target, with a short heartbeat.
import { restApi } from '../../edge/test/conformance/rest-api.ts';
import { startConformanceTarget, type ConformanceTarget } from '../../edge/test/conformance/target.ts';

let target: ConformanceTarget;
let api: ReturnType<typeof restApi>;
let token: string;
let board: string;

beforeAll(async () => {
  target = await startConformanceTarget({ WATCH_HEARTBEAT_SECONDS: '0.2' });
  api = restApi(target.baseUrl);
  const signUp = await api.post('/v1/auth:signUp', { email: `watcher-${Date.now()}@example.com`, password: 'correct horse battery', displayName: 'W' });
  token = signUp.json.accessToken;
  const org = (await api.post('/v1/organizations', { displayName: 'Watched' }, { token })).json.organization.name;
  board = (await api.post(`/v1/${org}/boards`, { displayName: 'Quiet' }, { token })).json.board.name;
}, 120_000);
afterAll(async () => {
  await target?.close();
});

/** Opens the watch over plain HTTP; resolves with the response as soon as its headers are in. */
function openWatch(name: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = get(`${target.baseUrl}/v1/${name}:watch`, { headers: { authorization: `Bearer ${token}` } }, resolve);
    req.on('error', reject);
  });
}

/** The stream's newline-delimited JSON lines as they come; `next(n)` waits for n more (or one matching `until`). */
function lineReader(response: IncomingMessage) {
  const lines: any[] = [];
  let buffered = '';
  let taken = 0;
  let wake: (() => void) | undefined;
  response.on('data', (chunk) => {
    buffered += String(chunk);
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffered.slice(0, newline)));
      buffered = buffered.slice(newline + 1);
    }
    wake?.();
  });
  return async function next(count: number, until?: (line: any) => boolean): Promise<any[]> {
    const done = () => (until ? lines.slice(taken).some(until) : lines.length - taken >= count);
    while (!done()) await new Promise<void>((resolve) => (wake = resolve));
    const end = until ? taken + lines.slice(taken).findIndex(until) + 1 : taken + count;
    const out = lines.slice(taken, end);
    taken = end;
    return out;
  };
}

describe('WatchBoard over REST', () => {
  it('sends the headers as soon as the stream is established, before its first line', async () => {
    const response = await openWatch(board);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    // Headers that came with the first line would have arrived in the same read from the socket.
    const readWithHeaders = response.socket.bytesRead;
    await lineReader(response)(1);
    expect(response.socket.bytesRead).toBeGreaterThan(readWithHeaders);
    response.destroy();
  });

  it('sends an empty object line as a heartbeat while the board is quiet, and events in between', async () => {
    const response = await openWatch(board);
    const next = lineReader(response);
    expect(await next(2)).toEqual([{}, {}]);
    await api.patch(`/v1/${board}?updateMask=displayName`, { displayName: 'Busy' }, { token });
    const lines = await next(0, (line) => line.event !== undefined);
    expect(lines.at(-1).event).toMatchObject({ type: 'taskmesh.board.v1.BoardUpdated', resource: board });
    expect(lines.slice(0, -1).every((line) => Object.keys(line).length === 0)).toBe(true);
    response.destroy();
  });

  it('still answers a watch of a board that is not there with an ordinary 404', async () => {
    const response = await openWatch(`${board.slice(0, board.lastIndexOf('/'))}/missing`);
    expect(response.statusCode).toBe(404);
    response.resume();
  });
});
