import type { IncomingMessage, ServerResponse } from 'node:http';

/** Cross-origin policy, the same knobs as Envoy's CorsPolicy. */
export interface CorsOptions {
  /** Exact origins allowed, or `*` for any. */
  allowOrigins: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAgeSeconds?: number;
  allowCredentials?: boolean;
}

const defaults = {
  allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  allowHeaders: ['authorization', 'content-type', 'x-request-id', 'traceparent', 'tracestate'],
  exposeHeaders: ['x-request-id', 'grpc-status', 'grpc-message'],
  maxAgeSeconds: 600,
};

/**
 * Adds CORS headers for an allowed origin. Returns true when the request was a preflight and has been
 * answered (204), so the caller stops there.
 */
export function applyCors(options: CorsOptions | undefined, request: IncomingMessage, response: ServerResponse): boolean {
  const origin = request.headers.origin;
  if (!options || typeof origin !== 'string') return false;
  const anyOrigin = options.allowOrigins.includes('*');
  if (!anyOrigin && !options.allowOrigins.includes(origin)) return false;
  // With credentials a literal `*` is not honoured by browsers, so the origin is echoed.
  response.setHeader('access-control-allow-origin', anyOrigin && !options.allowCredentials ? '*' : origin);
  response.setHeader('vary', 'origin');
  if (options.allowCredentials) response.setHeader('access-control-allow-credentials', 'true');
  const preflight = request.method === 'OPTIONS' && typeof request.headers['access-control-request-method'] === 'string';
  if (!preflight) {
    response.setHeader('access-control-expose-headers', (options.exposeHeaders ?? defaults.exposeHeaders).join(','));
    return false;
  }
  response.setHeader('access-control-allow-methods', (options.allowMethods ?? defaults.allowMethods).join(','));
  response.setHeader('access-control-allow-headers', (options.allowHeaders ?? defaults.allowHeaders).join(','));
  response.setHeader('access-control-max-age', String(options.maxAgeSeconds ?? defaults.maxAgeSeconds));
  response.writeHead(204);
  response.end();
  return true;
}
