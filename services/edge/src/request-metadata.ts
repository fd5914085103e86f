import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import * as grpc from '@grpc/grpc-js';

/** Headers that travel to the services as gRPC metadata. */
const forwardedHeaders = ['authorization', 'traceparent', 'tracestate', 'baggage', 'x-request-id', 'user-agent'];

/**
 * The gRPC metadata for one HTTP request: the forwarded headers, an `x-request-id` (generated when the
 * client sent none), and `x-forwarded-for` with the client's socket address appended, as Envoy does with
 * use_remote_address, so a service that trusts the rightmost entry sees the real peer.
 */
export function requestMetadata(request: IncomingMessage, requestId: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const name of forwardedHeaders) {
    const value = request.headers[name];
    if (typeof value === 'string' && value !== '') metadata.set(name, value);
  }
  metadata.set('x-request-id', requestId);
  const prior = request.headers['x-forwarded-for'];
  const priorText = Array.isArray(prior) ? prior.join(', ') : (prior ?? '');
  const peer = clientAddress(request);
  metadata.set('x-forwarded-for', priorText ? `${priorText}, ${peer}` : peer);
  return metadata;
}

/** The request id a client sent, or a new one. */
export function requestIdOf(request: IncomingMessage): string {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && sent !== '' && sent.length <= 200 ? sent : randomUUID();
}

/** The peer's IP address as Envoy would print it (IPv4-mapped IPv6 shown as IPv4). */
export function clientAddress(request: IncomingMessage): string {
  const address = request.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
