import { isUtf8 } from 'node:buffer';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { FileRegistry, JsonObject } from '@bufbuild/protobuf';
import type * as grpc from '@grpc/grpc-js';
import { context as otelContext } from '@opentelemetry/api';
import { stdoutAccessLog } from './access-log.ts';
import type { AccessLogEntry, AccessLogSink } from './access-log.ts';
import { applyCors } from './cors.ts';
import type { CorsOptions } from './cors.ts';
import { createDocsHandler } from './docs.ts';
import { RequestObservation, upstreamCall } from './edge-telemetry.ts';
import { collectHttpBindings, loadDescriptorSet } from './http-bindings.ts';
import type { HttpBinding } from './http-bindings.ts';
import { applyHttpServerLimits, defaultHttpServerLimits, httpServerOptions } from './http-server-limits.ts';
import type { HttpServerLimits } from './http-server-limits.ts';
import { encodeRequestMessage } from './request-message.ts';
import { clientAddress, requestIdOf, requestMetadata } from './request-metadata.ts';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { DEFAULT_LARGE_RESPONSE_CACHE_BYTES, largeResponseMemo, type LargeResponseMemo } from './large-response-memo.ts';
import { encodeResponseMessage } from './response-message.ts';
import { retryAfterSeconds } from './retry-after.ts';
import { RouteTable } from './route-table.ts';
import { errorBody, GrpcCode, httpStatusForGrpcCode } from './status-mapping.ts';
import { TranscodingError } from './transcoding-error.ts';
import { UpstreamChannels } from './upstream-channels.ts';
import { MalformedEscapeError } from './url-escaping.ts';

export type { CorsOptions } from './cors.ts';
export type { AccessLogEntry, AccessLogSink } from './access-log.ts';

/** The descriptor set `npm run generate` writes (`buf build -o gen/descriptor.binpb`). */
export const defaultDescriptorPath = fileURLToPath(new URL('../../../gen/descriptor.binpb', import.meta.url));

export interface EdgeOptions {
  /** TCP port; 0 picks a free one (see the returned `port`). */
  port: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /**
   * gRPC address (`host:port`) per full service name, e.g.
   * `{ 'taskmesh.identity.v1.IdentityService': '127.0.0.1:50051' }`. Routes of HTTP-bound services
   * without an address answer 503 UNAVAILABLE; only the services listed here count for /healthz.
   */
  upstreams: Record<string, string>;
  /** FileDescriptorSet with the services and their google.api.http rules; default gen/descriptor.binpb. */
  descriptorPath?: string;
  /** Largest request body accepted; larger ones get 413. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Deadline for each unary upstream call; expiry answers 504. Server streams have none. Default 15 s. */
  deadlineMs?: number;
  /** Cross-origin policy; absent means no CORS headers and OPTIONS answers 404. */
  cors?: CorsOptions;
  /** Where the JSON access log goes; default one line per request on stdout; `false` turns it off. */
  accessLog?: AccessLogSink | false;
  /** Query parameters ignored instead of mapped (Envoy's ignored_query_parameters). */
  ignoredQueryParameters?: string[];
  /** Timeouts and header limits of the HTTP server; each unset one keeps its default (http-server-limits.ts). */
  httpLimits?: Partial<HttpServerLimits>;
  /** Budget in bytes of the JSON kept for large responses (large-response-memo.ts); 0: none. Default 32 MiB. */
  largeResponseCacheBytes?: number;
}

export interface Edge {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  port: number;
  /**
   * Stops accepting, ends open server streams (grpc-status UNAVAILABLE in their trailers), waits for in-flight
   * requests up to graceMs (default: the upstream deadline), then cuts the connections and closes the channels.
   */
  close(graceMs?: number): Promise<void>;
}

/** A handler for /openapi.json and /docs (services/edge/src/docs.ts); true when it answered the request. */
type DocsHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

const defaultBodyLimit = 1024 * 1024;
const defaultDeadlineMs = 15_000;
const healthTimeoutMs = 2_000;

/**
 * Starts the REST/JSON edge: every google.api.http binding in the descriptor set is served, each request
 * transcoded to gRPC with the semantics of Envoy's grpc_json_transcoder as envoy/envoy.yaml configures it
 * (convert_grpc_status, reject unknown methods and query parameters, always_print_primitive_fields,
 * newline-delimited server streams). Also serves GET /healthz (200 only when every configured upstream's
 * grpc.health.v1 reports SERVING), GET /openapi.json and GET /docs (docs.ts).
 */
export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const descriptorPath = options.descriptorPath ?? defaultDescriptorPath;
  const registry = loadDescriptorSet(descriptorPath);
  for (const service of Object.keys(options.upstreams)) {
    if (!registry.getService(service)) throw new Error(`startEdge: upstream for ${service}, which is not in ${descriptorPath}`);
  }
  const routes = new RouteTable<HttpBinding>();
  for (const binding of collectHttpBindings(registry)) routes.add(binding.httpMethod, binding.template, binding);

  const context: RequestContext = {
    registry,
    routes,
    upstreams: new Map(Object.entries(options.upstreams)),
    channels: new UpstreamChannels(),
    bodyLimit: options.bodyLimitBytes ?? defaultBodyLimit,
    deadlineMs: options.deadlineMs ?? defaultDeadlineMs,
    cors: options.cors,
    ignoredQueryParameters: new Set(options.ignoredQueryParameters ?? []),
    docs: createDocsHandler(),
    openStreams: new Set(),
    closing: false,
    largeResponses: largeResponseMemo(options.largeResponseCacheBytes ?? DEFAULT_LARGE_RESPONSE_CACHE_BYTES),
  };
  const accessLog = options.accessLog === false ? undefined : (options.accessLog ?? stdoutAccessLog);

  const sockets = new Set<Socket>();
  const limits: HttpServerLimits = { ...defaultHttpServerLimits, ...options.httpLimits };
  const server = createServer(httpServerOptions(limits), (request, response) => {
    const exchange = new Exchange(request, response);
    if (accessLog) response.on('close', () => accessLog(exchange.logEntry()));
    response.on('close', () => exchange.observation.finish(response));
    otelContext.with(exchange.observation.context, handle, undefined, context, exchange).catch((error: unknown) => {
      // Only a bug in the edge gets here: answer 500 without details and keep serving.
      process.stderr.write(`edge: unexpected error for ${request.method} ${exchange.path}: ${String((error as Error)?.stack ?? error)}\n`);
      if (!response.headersSent) exchange.sendError(500, GrpcCode.INTERNAL, 'internal error in the edge', registry);
      else response.destroy();
    });
  });
  applyHttpServerLimits(server, limits);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;

  const unobserveCaches = observeCaches('edge', [context.largeResponses]);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close(graceMs = context.deadlineMs) {
      closing ??= (async () => {
        context.closing = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const stream of context.openStreams) stream.cancel();
        server.closeIdleConnections();
        // Requests still in flight get the grace period; then connections are cut.
        const cutoff = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        cutoff.unref();
        await closed;
        clearTimeout(cutoff);
        context.channels.close();
        unobserveCaches();
      })();
      return closing;
    },
  };
}

interface RequestContext {
  registry: FileRegistry;
  routes: RouteTable<HttpBinding>;
  upstreams: Map<string, string>;
  channels: UpstreamChannels;
  bodyLimit: number;
  deadlineMs: number;
  cors: CorsOptions | undefined;
  ignoredQueryParameters: ReadonlySet<string>;
  docs: DocsHandler;
  openStreams: Set<grpc.ClientReadableStream<Buffer>>;
  /** Set by close(): streams it cancels end with UNAVAILABLE, which tells the client to reconnect. */
  closing: boolean;
  largeResponses: LargeResponseMemo;
}

/** One HTTP request and its response, with what the access log needs. */
class Exchange {
  readonly started = Date.now();
  readonly requestId: string;
  readonly path: string;
  readonly rawQuery: string;
  bytesReceived = 0;
  bytesSent = 0;
  grpcStatus: number | undefined;
  grpcMethod: string | undefined;
  /** The request's span and timing (edge-telemetry.ts). */
  readonly observation: RequestObservation;

  constructor(
    readonly request: IncomingMessage,
    readonly response: ServerResponse,
  ) {
    this.requestId = requestIdOf(request);
    const url = request.url ?? '/';
    const q = url.indexOf('?');
    this.path = q >= 0 ? url.slice(0, q) : url;
    this.rawQuery = q >= 0 ? url.slice(q + 1) : '';
    this.observation = new RequestObservation(request);
    response.setHeader('x-request-id', this.requestId);
  }

  send(status: number, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}): void {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.bytesSent += bytes.byteLength;
    this.response.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': String(bytes.byteLength) });
    this.response.end(bytes);
  }

  /** `details`: a service's grpc-status-details-bin, or the edge's own details in their JSON form. */
  sendError(httpStatus: number, code: number, message: string, registry: FileRegistry, details?: Uint8Array | JsonObject[], headers: Record<string, string> = {}): void {
    const body = Array.isArray(details) ? { code, message, details } : errorBody(code, message, details, registry);
    // Envoy keeps the gRPC status in headers next to the converted body.
    this.send(httpStatus, 'application/json', JSON.stringify(body), { ...headers, 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) });
  }

  sendTranscodingError(error: TranscodingError, registry: FileRegistry): void {
    this.sendError(error.httpStatus, error.code, error.message, registry, error.details);
  }

  logEntry(): AccessLogEntry {
    const userAgent = this.request.headers['user-agent'];
    return {
      time: new Date(this.started).toISOString(),
      requestId: this.requestId,
      method: this.request.method ?? '',
      path: this.path,
      status: this.response.statusCode,
      ...(this.grpcStatus !== undefined ? { grpcStatus: this.grpcStatus } : {}),
      ...(this.grpcMethod ? { grpcMethod: this.grpcMethod } : {}),
      durationMs: Date.now() - this.started,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      remoteAddress: clientAddress(this.request),
      ...(typeof userAgent === 'string' ? { userAgent } : {}),
    };
  }
}

async function handle(context: RequestContext, exchange: Exchange): Promise<void> {
  const { request, response } = exchange;
  const { registry } = context;
  if (applyCors(context.cors, request, response)) return;
  const method = request.method ?? 'GET';

  if (exchange.path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
    await sendHealth(context, exchange);
    return;
  }
  // Mount point of docs.ts: the OpenAPI document and the /docs viewer; it declines every other path.
  if ((exchange.path === '/openapi.json' || exchange.path === '/docs' || exchange.path.startsWith('/docs/')) && context.docs(request, response)) {
    return;
  }

  let match: ReturnType<typeof context.routes.lookup>;
  try {
    match = context.routes.lookup(method, exchange.path);
  } catch (error) {
    if (!(error instanceof MalformedEscapeError)) throw error;
    request.resume();
    exchange.sendError(400, GrpcCode.INVALID_ARGUMENT, error.message, registry);
    return;
  }
  if (!match) {
    request.resume();
    exchange.sendError(404, GrpcCode.NOT_FOUND, `no method is bound to ${method} ${exchange.path}`, registry);
    return;
  }
  const binding = match.route;
  exchange.grpcMethod = binding.grpcPath;
  exchange.observation.matched(binding.template.source);

  let bodyText: string | undefined;
  try {
    // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3): nothing to wait for.
    bodyText = hasBody(request) ? await readBody(exchange, context.bodyLimit) : '';
    if (binding.body !== undefined && bodyText !== '') checkContentType(request);
  } catch (error) {
    if (!(error instanceof TranscodingError)) throw error;
    // The rest of an oversized body is discarded unbuffered (within the request timeout) rather than the
    // connection closed under it: a client still sending would get a reset instead of the 413.
    exchange.sendTranscodingError(error, registry);
    return;
  }

  const service = binding.method.parent.typeName;
  const address = context.upstreams.get(service);
  if (!address) {
    exchange.sendError(503, GrpcCode.UNAVAILABLE, `${service} is not available at this edge`, registry);
    return;
  }
  if (binding.method.methodKind === 'client_streaming' || binding.method.methodKind === 'bidi_streaming') {
    exchange.sendError(501, GrpcCode.UNIMPLEMENTED, `${binding.grpcPath} streams requests, which this edge does not transcode`, registry);
    return;
  }

  let message: Uint8Array;
  try {
    message = encodeRequestMessage({
      binding,
      registry,
      pathBindings: match.bindings,
      rawQuery: exchange.rawQuery,
      bodyText: binding.body === undefined ? undefined : bodyText,
      ignoredQueryParameters: context.ignoredQueryParameters,
    });
  } catch (error) {
    if (!(error instanceof TranscodingError)) throw error;
    exchange.sendTranscodingError(error, registry);
    return;
  }

  const metadata = requestMetadata(request, exchange.requestId);
  if (binding.method.methodKind === 'server_streaming') {
    streamResponses(context, exchange, binding, address, message, metadata);
    return;
  }
  const ended = upstreamCall(binding.grpcPath, metadata);
  try {
    const result = await context.channels.unary(address, binding.grpcPath, message, metadata, new Date(Date.now() + context.deadlineMs));
    ended(GrpcCode.OK);
    exchange.grpcStatus = GrpcCode.OK;
    const encoded = encodeResponseMessage(binding, result.bytes, registry, context.largeResponses);
    exchange.send(200, encoded.contentType, encoded.body, forwardableHeaders(result.headers));
  } catch (error) {
    if (exchange.grpcStatus === undefined) ended((error as grpc.ServiceError).code ?? GrpcCode.UNKNOWN);
    sendUpstreamError(exchange, error as grpc.ServiceError, registry);
  }
}

function sendUpstreamError(exchange: Exchange, error: grpc.ServiceError, registry: FileRegistry): void {
  const code = typeof error.code === 'number' ? error.code : GrpcCode.UNKNOWN;
  const raw = error.metadata?.get('grpc-status-details-bin')[0];
  const detailsBin = typeof raw === 'string' ? undefined : raw;
  const httpStatus = httpStatusForGrpcCode(code);
  const headers = error.metadata ? forwardableHeaders(error.metadata) : {};
  // A service's google.rpc.RetryInfo tells HTTP clients when to come back, as Retry-After.
  const retryAfter = httpStatus === 429 || httpStatus === 503 ? retryAfterSeconds(detailsBin, registry) : undefined;
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  exchange.grpcStatus = code;
  exchange.sendError(httpStatus, code, error.details ?? '', registry, detailsBin, headers);
}

/**
 * Server streaming as Envoy frames it with print_options.stream_newline_delimited: each message is one
 * line of JSON. Status and headers are sent when the service sends its headers (at the latest with the
 * first message); a stream that fails before that gets an ordinary error response. A failure after that
 * can only end the stream: the gRPC status then goes in HTTP trailers (grpc-status, grpc-message), as
 * Envoy leaves it.
 */
function streamResponses(context: RequestContext, exchange: Exchange, binding: HttpBinding, address: string, message: Uint8Array, metadata: grpc.Metadata): void {
  const { response } = exchange;
  const ended = upstreamCall(binding.grpcPath, metadata);
  const call = context.channels.serverStream(address, binding.grpcPath, message, metadata, undefined);
  call.on('status', (status: grpc.StatusObject) => ended(status.code));
  context.openStreams.add(call);
  let initial: grpc.Metadata | undefined;
  let done = false;
  const start = () => {
    if (response.headersSent) return;
    response.writeHead(200, {
      ...(initial ? forwardableHeaders(initial) : {}),
      'content-type': 'application/json',
      trailer: 'grpc-status, grpc-message',
    });
  };
  // A service sends headers on its own once the stream is established (WatchBoard does): so do we, so a client
  // can tell an established, quiet stream from a stuck one. A stream refused at once comes as trailers only.
  call.on('metadata', (received: grpc.Metadata) => {
    initial = received;
    if (response.destroyed) return;
    start();
    response.flushHeaders();
  });
  call.on('data', (chunk: Buffer) => {
    let line: string;
    try {
      const encoded = encodeResponseMessage(binding, chunk, context.registry, context.largeResponses);
      line =
        typeof encoded.body === 'string'
          ? encoded.body
          : Buffer.from(encoded.body.buffer, encoded.body.byteOffset, encoded.body.byteLength).toString(encoded.jsonBytes ? 'utf8' : 'base64');
    } catch {
      call.cancel();
      return;
    }
    start();
    const bytes = Buffer.from(`${line}\n`);
    exchange.bytesSent += bytes.byteLength;
    response.write(bytes);
  });
  call.on('error', (error: grpc.ServiceError) => {
    done = true;
    context.openStreams.delete(call);
    if (response.destroyed) return;
    if (!response.headersSent) {
      sendUpstreamError(exchange, error, context.registry);
      return;
    }
    const stopping = context.closing && error.code === GrpcCode.CANCELLED;
    exchange.grpcStatus = stopping ? GrpcCode.UNAVAILABLE : error.code;
    const message = stopping ? 'the edge is shutting down; reconnect' : (error.details ?? '');
    response.addTrailers({ 'grpc-status': String(exchange.grpcStatus), 'grpc-message': encodeURIComponent(message) });
    response.end();
  });
  call.on('end', () => {
    if (done) return;
    done = true;
    context.openStreams.delete(call);
    exchange.grpcStatus = GrpcCode.OK;
    if (response.destroyed) return;
    start();
    response.addTrailers({ 'grpc-status': '0', 'grpc-message': '' });
    response.end();
  });
  // A client that goes away cancels the upstream stream.
  response.on('close', () => {
    if (!done) call.cancel();
  });
}

async function sendHealth(context: RequestContext, exchange: Exchange): Promise<void> {
  const entries = [...context.upstreams.entries()];
  const statuses = await Promise.all(entries.map(([, address]) => context.channels.health(address, healthTimeoutMs)));
  const upstreams = Object.fromEntries(entries.map(([service], i) => [service, statuses[i]!]));
  const serving = statuses.every((s) => s === 'SERVING');
  exchange.send(serving ? 200 : 503, 'application/json', JSON.stringify({ status: serving ? 'SERVING' : 'NOT_SERVING', upstreams }));
}

function checkContentType(request: IncomingMessage): void {
  const type = request.headers['content-type'];
  if (type === undefined) return;
  const mediaType = type.split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/json' && !mediaType.endsWith('+json')) {
    throw new TranscodingError(415, GrpcCode.INVALID_ARGUMENT, `content type ${JSON.stringify(mediaType)} is not supported; send application/json`);
  }
}

function hasBody(request: IncomingMessage): boolean {
  return request.headers['content-length'] !== undefined || request.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole body as UTF-8, refusing (413) past the limit without buffering the excess. */
function readBody(exchange: Exchange, limit: number): Promise<string> {
  const { request } = exchange;
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) {
    return Promise.reject(new TranscodingError(413, GrpcCode.INVALID_ARGUMENT, `request body of ${declared} bytes is over the limit of ${limit} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      exchange.bytesReceived = size;
      if (size > limit) {
        request.off('data', onData);
        request.resume();
        reject(new TranscodingError(413, GrpcCode.INVALID_ARGUMENT, `request body is over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => {
      const body = Buffer.concat(chunks);
      // toString would turn invalid bytes into U+FFFD without a word; the client should know.
      if (isUtf8(body)) resolve(body.toString('utf8'));
      else reject(new TranscodingError(400, GrpcCode.INVALID_ARGUMENT, 'request body is not valid UTF-8'));
    });
    request.once('error', reject);
  });
}

const unforwardedResponseHeaders = new Set(['content-type', 'content-length', 'date', 'connection', 'transfer-encoding', 'trailer', 'te', 'keep-alive', 'x-request-id']);

/** Service metadata that becomes response headers, as Envoy passes it through: no grpc-*, no binary. */
function forwardableHeaders(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (key.startsWith('grpc-') || key.endsWith('-bin') || key.startsWith(':') || unforwardedResponseHeaders.has(key)) continue;
    headers[key] = String(value);
  }
  return headers;
}
