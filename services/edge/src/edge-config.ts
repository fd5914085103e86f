import type { EdgeOptions } from './edge.ts';
import { DEFAULT_LARGE_RESPONSE_CACHE_BYTES } from './large-response-memo.ts';
import { httpServerLimitEnv } from './http-server-limits.ts';
import type { HttpServerLimits } from './http-server-limits.ts';

/** Env var holding the gRPC address of each service the edge fronts (a process may host more than one). */
export const upstreamEnv: Record<string, string | readonly string[]> = {
  IDENTITY_ADDR: 'taskmesh.identity.v1.IdentityService',
  ORG_ADDR: ['taskmesh.org.v1.OrgService', 'taskmesh.admin.v1.AdminService'],
  BOARD_ADDR: 'taskmesh.board.v1.BoardService',
  TASK_ADDR: 'taskmesh.task.v1.TaskService',
  AUDIT_ADDR: 'taskmesh.audit.v1.AuditService',
  SHARE_ADDR: 'taskmesh.share.v1.ShareService',
  ATTACHMENT_ADDR: 'taskmesh.attachment.v1.AttachmentService',
  WEBHOOK_ADDR: 'taskmesh.webhook.v1.WebhookService',
  ANALYTICS_ADDR: 'taskmesh.analytics.v1.AnalyticsService',
};

export class EdgeConfigError extends Error {
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`);
    this.name = 'EdgeConfigError';
  }
}

/**
 * Reads the standalone edge's configuration once, failing on the first bad value with its name:
 * EDGE_PORT (8080), EDGE_HOST (0.0.0.0), EDGE_DESCRIPTOR (gen/descriptor.binpb), EDGE_BODY_LIMIT_BYTES
 * (1 MiB), EDGE_DEADLINE_MS (15000), EDGE_CORS_ORIGINS (comma list; unset = no CORS), EDGE_ACCESS_LOG
 * (`off` to silence), EDGE_LARGE_RESPONSE_CACHE_BYTES (32 MiB; 0: none), the HTTP server limits (http-server-limits.ts: EDGE_HEADERS_TIMEOUT_MS and the like), and one `<SERVICE>_ADDR` per upstream; services without one answer 503.
 */
export function readEdgeConfig(env: NodeJS.ProcessEnv): EdgeOptions {
  const upstreams: Record<string, string> = {};
  for (const [variable, services] of Object.entries(upstreamEnv)) {
    const address = env[variable]?.trim();
    if (!address) continue;
    if (!/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$|^(dns|unix|ipv4|ipv6):/.test(address)) {
      throw new EdgeConfigError(variable, `expected host:port, got ${JSON.stringify(address)}`);
    }
    for (const service of typeof services === 'string' ? [services] : services) upstreams[service] = address;
  }
  const options: EdgeOptions = {
    port: integer(env, 'EDGE_PORT', 8080, 0, 65535),
    host: env.EDGE_HOST?.trim() || '0.0.0.0',
    upstreams,
    bodyLimitBytes: integer(env, 'EDGE_BODY_LIMIT_BYTES', 1024 * 1024, 1, 2 ** 31),
    deadlineMs: integer(env, 'EDGE_DEADLINE_MS', 15_000, 1, 2 ** 31),
    httpLimits: readHttpServerLimits(env),
    largeResponseCacheBytes: integer(env, 'EDGE_LARGE_RESPONSE_CACHE_BYTES', DEFAULT_LARGE_RESPONSE_CACHE_BYTES, 0, 2 ** 31),
  };
  if (env.EDGE_DESCRIPTOR?.trim()) options.descriptorPath = env.EDGE_DESCRIPTOR.trim();
  const origins = env.EDGE_CORS_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean);
  if (origins?.length) options.cors = { allowOrigins: origins };
  if (env.EDGE_ACCESS_LOG === 'off') options.accessLog = false;
  return options;
}

/** The HTTP server limits set in the environment (EDGE_HEADERS_TIMEOUT_MS and the like); unset ones keep their defaults. */
export function readHttpServerLimits(env: NodeJS.ProcessEnv): Partial<HttpServerLimits> {
  const limits: Partial<HttpServerLimits> = {};
  for (const [key, variable] of Object.entries(httpServerLimitEnv) as [keyof HttpServerLimits, string][]) {
    if (env[variable]?.trim()) limits[key] = integer(env, variable, 0, 1, 2 ** 31);
  }
  return limits;
}

function integer(env: NodeJS.ProcessEnv, variable: string, fallback: number, min: number, max: number): number {
  const text = env[variable]?.trim();
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new EdgeConfigError(variable, `expected an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}
