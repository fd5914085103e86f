import type { Server, ServerOptions } from 'node:http';

/**
 * How long and how much the edge's HTTP server lets a client take, set deliberately rather than left to
 * Node's defaults (headers 60 s, whole request 300 s, 2,000 headers, timeouts checked every 30 s).
 */
export interface HttpServerLimits {
  /** All request headers must arrive within this; a client trickling them is answered 408 and dropped. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. Responses, streams included, are not limited. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Headers past this count are dropped (as Envoy's default max_headers_count). */
  maxHeadersCount: number;
  /** Request line plus headers above this many bytes get 431. */
  maxHeaderSizeBytes: number;
}

export const defaultHttpServerLimits: HttpServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeadersCount: 100,
  maxHeaderSizeBytes: 16 * 1024,
};

/** Environment variable of each limit (standalone edge and embedded stack). */
export const httpServerLimitEnv: Record<keyof HttpServerLimits, string> = {
  headersTimeoutMs: 'EDGE_HEADERS_TIMEOUT_MS',
  requestTimeoutMs: 'EDGE_REQUEST_TIMEOUT_MS',
  keepAliveTimeoutMs: 'EDGE_KEEP_ALIVE_TIMEOUT_MS',
  maxHeadersCount: 'EDGE_MAX_HEADERS_COUNT',
  maxHeaderSizeBytes: 'EDGE_MAX_HEADER_SIZE_BYTES',
};

/** The options createServer needs for these limits. */
export function httpServerOptions(limits: HttpServerLimits): ServerOptions {
  return {
    maxHeaderSize: limits.maxHeaderSizeBytes,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the two timeouts on this interval only (30 s by default), which would let a slow client
    // linger far past them.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4))),
  };
}

/** The one limit Node takes on the server object only. */
export function applyHttpServerLimits(server: Server, limits: HttpServerLimits): void {
  server.maxHeadersCount = limits.maxHeadersCount;
}
