import { createServer, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpReceiver {
  /** `127.0.0.1:<port>`, for an allow-list such as WEBHOOK_ALLOWED_HOSTS. */
  host: string;
  /** A URL on it. */
  url(path: string): string;
  close(): Promise<void>;
}

/** A loopback HTTP server on a free port that answers every request 200 (a webhook endpoint that accepts all). */
export function startAcceptingReceiver(): Promise<HttpReceiver> {
  return listen((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
}

async function listen(handler: RequestListener): Promise<HttpReceiver> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: (path) => `http://${host}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One request a recording receiver got. */
export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RecordingReceiver extends HttpReceiver {
  /** Every request so far, in arrival order. */
  received: ReceivedRequest[];
}

/** An accepting receiver (200 to everything) that keeps each request's path, headers and body. */
export async function startRecordingReceiver(): Promise<RecordingReceiver> {
  const received: ReceivedRequest[] = [];
  const receiver = await listen((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '/', headers: req.headers, body });
      res.end('ok');
    });
  });
  return { ...receiver, received };
}
