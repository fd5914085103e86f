import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';

describe('freePort', () => {
  it('hands out distinct ports below the ephemeral range, in this worker band', async () => {
    const floor = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
    expect(new Set(ports).size).toBe(40);
    const band = 15000 + (Number(process.env.VITEST_POOL_ID) - 1) * 500;
    for (const port of ports) {
      expect(port).toBeLessThan(floor);
      expect(port).toBeGreaterThanOrEqual(band);
      expect(port).toBeLessThan(band + 500);
    }
  });
});
