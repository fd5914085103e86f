import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AllowedHosts, destinationOf, type Destination } from '../domain/destination-guard.ts';
import { sendDelivery } from './http-sender.ts';

describe('sendDelivery', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits += 1;
      req.resume();
      req.on('end', () => res.writeHead(200).end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  const destination = (url: string, allowed: string): Destination => {
    const d = destinationOf(url, new AllowedHosts(allowed));
    if ('problem' in d) throw new Error(d.problem);
    return d;
  };

  it('posts to an allowed loopback host', async () => {
    const before = hits;
    const outcome = await sendDelivery(destination(`http://127.0.0.1:${port}/x`, `127.0.0.1:${port}`), {}, '{}', 2_000);
    expect(outcome).toMatchObject({ httpStatus: 200 });
    expect(outcome.error).toBeUndefined();
    expect(hits).toBe(before + 1);
  });

  it('checks the address again at send time and never connects to a forbidden one', async () => {
    const before = hits;
    // https to a name that resolves to loopback, not in the allowed list: refused before any connection.
    const viaName = await sendDelivery(destination(`https://localhost:${port}/x`, ''), {}, '{}', 2_000);
    expect(viaName.httpStatus).toBe(0);
    expect(viaName.error).toMatch(/private, loopback/);
    const viaLiteral = await sendDelivery(destination(`https://127.0.0.1:${port}/x`, ''), {}, '{}', 2_000);
    expect(viaLiteral.error).toMatch(/private, loopback/);
    expect(hits).toBe(before);
  });

  it('reports a refused connection as status 0 with a short reason', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const outcome = await sendDelivery(destination(`http://127.0.0.1:${closedPort}/`, `127.0.0.1:${closedPort}`), {}, '{}', 2_000);
    expect(outcome).toMatchObject({ httpStatus: 0, error: 'the connection failed' });
  });
});
