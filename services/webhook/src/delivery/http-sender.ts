import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isForbiddenAddress, type Destination } from '../domain/destination-guard.ts';

export interface SendOutcome {
  /** 0 when no HTTP answer came. */
  httpStatus: number;
  durationMs: number;
  /** Set when the attempt failed: a short reason, never the endpoint's body. */
  error?: string;
}

/** Thrown when a destination resolves to an address a webhook may not reach. */
export class ForbiddenDestinationError extends Error {
  override name = 'ForbiddenDestinationError';
}

/**
 * Resolves a host and picks its first address, refusing the host when any address is forbidden (unless the
 * destination is an allowed host). The connection then goes to exactly that address, so DNS cannot change
 * between the check and the connect (rebinding).
 */
export async function resolveDestination(destination: Destination): Promise<{ address: string; family: number }> {
  const host = destination.url.hostname.replace(/^\[|\]$/g, '');
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await dnsLookup(host, { all: true, verbatim: true });
  if (addresses.length === 0) throw new ForbiddenDestinationError('the host does not resolve');
  if (!destination.allowed && addresses.some((a) => isForbiddenAddress(a.address))) {
    throw new ForbiddenDestinationError('the host resolves to a private, loopback, link-local or reserved address');
  }
  return addresses[0]!;
}

/** POSTs a signed delivery to the destination, connecting only to the address that passed the check. */
export async function sendDelivery(
  destination: Destination,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<SendOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let pinned: { address: string; family: number };
  try {
    pinned = await resolveDestination(destination);
  } catch (err) {
    return { httpStatus: 0, durationMs: elapsed(), error: err instanceof ForbiddenDestinationError ? err.message : 'the host does not resolve' };
  }
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const send = destination.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<SendOutcome>((resolve) => {
    const req = send(
      destination.url,
      {
        method: 'POST',
        lookup,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Taskmesh-Webhooks/1' },
        timeout: timeoutMs,
      },
      (res) => {
        // The body is not kept (it could be large or sensitive); drain it to free the socket.
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({ httpStatus: status, durationMs: elapsed(), ...(status >= 200 && status < 300 ? {} : { error: `the endpoint answered ${status}` }) });
        });
        res.on('error', () => resolve({ httpStatus: res.statusCode ?? 0, durationMs: elapsed(), error: 'the answer was cut off' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ httpStatus: 0, durationMs: elapsed(), error: err.message === 'timed out' ? `no answer within ${timeoutMs} ms` : 'the connection failed' }));
    req.end(body);
  });
}
