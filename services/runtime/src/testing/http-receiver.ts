import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpReceiver {
  /** `127.0.0.1:<port>`, for an allow-list such as WEBHOOK_ALLOWED_HOSTS. */
  host: string;
  /** A URL on it. */
  url(path: string): string;
  close(): Promise<void>;
}

/** A loopback HTTP server on a free port that answers every request 200 (a webhook endpoint that accepts all). */
export async function startAcceptingReceiver(): Promise<HttpReceiver> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    url: (path) => `http://${host}${path}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
