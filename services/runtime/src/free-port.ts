import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

// Ports chosen here are bound later (services dial each other, so their addresses are fixed up front). Two
// things could take one in between: any server binding port 0, which the kernel serves from its ephemeral range,
// and another process choosing the same port. So the choice is made below the ephemeral range, and each
// concurrent vitest worker (VITEST_POOL_ID is unique among those running) draws from its own band of it.
const LOWEST = 15000;
const BAND = 500;

function ephemeralFloor(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > LOWEST + BAND ? low : 32768;
  } catch {
    return 32768;
  }
}

let cursor: number | undefined;

function candidates(): { first: number; size: number } {
  const floor = ephemeralFloor();
  const bands = Math.floor((floor - LOWEST) / BAND);
  const pool = Number(process.env.VITEST_POOL_ID);
  if (Number.isInteger(pool) && pool > 0) return { first: LOWEST + ((pool - 1) % bands) * BAND, size: BAND };
  return { first: LOWEST, size: bands * BAND };
}

function listenable(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/**
 * A port (loopback by default) nobody listens on right now, below the kernel's ephemeral range, for servers that
 * must know their address before they start. Successive calls walk the band, so a port handed out is not handed
 * out again until the other ports of the band have been.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const { first, size } = candidates();
  // A child process shares its parent's band; starting at an offset of its own keeps their choices apart.
  cursor ??= (process.pid * 7919) % size;
  for (let tried = 0; tried < size; tried++) {
    const port = first + (cursor++ % size);
    if (await listenable(port, host)) return port;
  }
  throw new Error(`no free port in ${first}–${first + size - 1}`);
}
