import { AsyncLocalStorage } from 'node:async_hooks';
import { status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import type { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { z } from 'zod';
import { callUnary } from './grpc-client.ts';
import { GenerationalCache } from './generational-cache.ts';
import { roleFromProto, type OrgRole } from './membership-lookup.ts';

/**
 * API tokens (issue 14 §4) as bearer credentials: `tm_` + base64url(org id ‖ 256 random bits). The org
 * service owns them; every other service resolves a presented secret through org's internal
 * ResolveApiToken, cached at most 1 s so a revocation takes effect within a second everywhere.
 */
export const API_TOKEN_PREFIX = 'tm_';

export const isApiToken = (token: string) => token.startsWith(API_TOKEN_PREFIX);

/** What a live API token grants: membership of one org with one role (refused while the org is suspended). */
export interface ApiTokenGrant {
  tokenId: string;
  orgId: string;
  role: OrgRole;
  orgSuspended: boolean;
}

/** Resolves a presented secret; undefined when unknown, expired or revoked. */
export type ApiTokenResolver = (token: string) => Promise<ApiTokenGrant | undefined>;

/** The resolver every service but org uses: org's internal ResolveApiToken through its typed stub. */
export function apiTokensViaOrgService(client: OrgServiceClient, options: { timeoutMs?: number } = {}): ApiTokenResolver {
  return async (token) => {
    try {
      const res = await callUnary(client, client.resolveApiToken, { token }, { timeoutMs: options.timeoutMs ?? 5_000 });
      const match = /^organizations\/([^/]+)\/apiTokens\/([^/]+)$/.exec(res.apiToken?.name ?? '');
      const role = res.apiToken ? roleFromProto(res.apiToken.role) : undefined;
      return match && role ? { orgId: match[1]!, tokenId: match[2]!, role, orgSuspended: res.organizationSuspended } : undefined;
    } catch (err) {
      if ((err as ServiceError).code === GrpcCode.NOT_FOUND) return undefined;
      throw err;
    }
  };
}

/** Longest a resolved (or refused) token is remembered: revocation must bite within a second. */
export const API_TOKEN_CACHE_MAX_TTL_MS = 1_000;

/** The answer kept for a secret: a grant, or none (unknown, expired or revoked). */
export type ApiTokenAnswers = GenerationalCache<string, { grant: ApiTokenGrant | undefined }>;

/** The budget of a service's API token cache. */
export const apiTokenCacheConfigShape = {
  /** Most API token answers (grants and refusals) kept at once (0: none). */
  API_TOKEN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).default(10_000),
};

/**
 * The cache of API token answers (`api_token` in the metrics): at most maxEntries, each for ttlMs (default
 * 500 ms, at most 1 s so a revocation takes effect within a second everywhere; 0 keeps nothing).
 */
export function apiTokenCache(options: { maxEntries: number; ttlMs?: number; now?: () => number }): ApiTokenAnswers {
  const ttl = options.ttlMs ?? 500;
  if (ttl < 0 || ttl > API_TOKEN_CACHE_MAX_TTL_MS) throw new Error('API token cache ttl must be between 0 and 1000 ms');
  return new GenerationalCache({ name: 'api_token', unit: 'entries', budget: options.maxEntries, maxAgeMs: ttl, now: options.now });
}

/**
 * Answers from `answers` (see apiTokenCache) and keeps every answer there, negative ones too so a bad token
 * can't hammer org; concurrent lookups of one secret share one call. Keys are the secrets themselves, held only
 * in memory.
 */
export function cachedApiTokens(source: ApiTokenResolver, answers: ApiTokenAnswers): ApiTokenResolver & { clear(): void } {
  const inFlight = new Map<string, Promise<ApiTokenGrant | undefined>>();
  const resolve = async (token: string) => {
    const hit = answers.get(token, undefined);
    if (hit !== undefined) return hit.grant;
    const pending = inFlight.get(token);
    if (pending) return pending;
    const lookup = source(token)
      .then((grant) => {
        answers.set(token, { grant }, undefined);
        return grant;
      })
      .finally(() => inFlight.delete(token));
    inFlight.set(token, lookup);
    return lookup;
  };
  return Object.assign(resolve, { clear: () => answers.clear() });
}

// The API token a tenant call runs as, so the outbox names the token (not a user) as the events' actor.
const actingToken = new AsyncLocalStorage<ApiTokenGrant>();

/** Runs `work` with `grant` (when set) as the acting API token of the call. */
export function runAsApiToken<T>(grant: ApiTokenGrant | undefined, work: () => T): T {
  return grant ? actingToken.run(grant, work) : work();
}

export const apiTokenName = (grant: ApiTokenGrant) => `organizations/${grant.orgId}/apiTokens/${grant.tokenId}`;

/** An event's actor: services write `users/{principal.userId}`; under an API token that id is the token's. */
export function actorOfEvent(actor: string): string {
  const grant = actingToken.getStore();
  return grant && actor === `users/${grant.tokenId}` ? apiTokenName(grant) : actor;
}
