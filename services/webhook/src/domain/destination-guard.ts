import { BlockList, isIP } from 'node:net';

/**
 * SSRF guard: which destinations a webhook may reach. Addresses that are loopback, private, link-local
 * (cloud metadata included), shared, multicast, reserved or unspecified are refused, in IPv4, IPv6 and
 * IPv4-mapped IPv6, unless the URL's host (or host:port) is listed in WEBHOOK_ALLOWED_HOSTS.
 */
const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 96], ['::1', 128], ['64:ff9b::', 96], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) blocked.addSubnet(net, prefix, 'ipv6');

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const MAPPED_V4_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/** Whether an IP literal is one a webhook must never reach. */
export function isForbiddenAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').split('%')[0]!.toLowerCase();
  const family = isIP(bare);
  if (family === 4) return blocked.check(bare, 'ipv4');
  if (family !== 6) return true;
  const dotted = MAPPED_V4.exec(bare);
  if (dotted) return blocked.check(dotted[1]!, 'ipv4');
  const hex = MAPPED_V4_HEX.exec(bare);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return blocked.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
  }
  return blocked.check(bare, 'ipv6');
}

/** WEBHOOK_ALLOWED_HOSTS: entries `host` (any port) or `host:port`; IPv6 as `[::1]:8080`. */
export class AllowedHosts {
  private readonly entries: { host: string; port?: string }[];

  constructor(list: string) {
    this.entries = list
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean)
      .map((entry) => {
        const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(entry);
        if (!m) throw new Error(`WEBHOOK_ALLOWED_HOSTS: "${entry}" is not host or host:port`);
        return { host: m[1]!.replace(/^\[|\]$/g, ''), ...(m[2] ? { port: m[2] } : {}) };
      });
  }

  /** `url.hostname` (brackets stripped) and the effective port. */
  allows(hostname: string, port: string): boolean {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
    return this.entries.some((e) => e.host === host && (e.port === undefined || e.port === port));
  }
}

export interface Destination {
  url: URL;
  /** Listed in WEBHOOK_ALLOWED_HOSTS: any address and plain http are accepted. */
  allowed: boolean;
}

/** Checks a URL's shape and scheme; the address check happens on resolution (registration and each send). */
export function destinationOf(raw: string, allowedHosts: AllowedHosts): Destination | { problem: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'must be an absolute URL' };
  }
  if (url.username || url.password) return { problem: 'must not carry credentials' };
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: 'must be an https URL' };
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const allowed = allowedHosts.allows(url.hostname, port);
  if (url.protocol === 'http:' && !allowed) return { problem: 'must be an https URL' };
  return { url, allowed };
}
