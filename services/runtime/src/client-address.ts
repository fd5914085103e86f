import type { CallContext } from './grpc-server.ts';

/**
 * The client address for abuse limits: the rightmost x-forwarded-for entry, which is the one the edge (ours or
 * Envoy) appended from the socket; entries to its left came from the client and are not trusted. A direct
 * gRPC caller without the header is keyed by its peer address.
 */
export function clientAddressOf(call: Pick<CallContext, 'metadata' | 'peer'>): string {
  const entries = call.metadata.get('x-forwarded-for').map(String).join(',').split(',').map((s) => s.trim()).filter(Boolean);
  return entries.at(-1) ?? call.peer.replace(/:\d+$/, '').replace(/^ipv[46]:/, '');
}
