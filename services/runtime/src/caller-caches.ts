import { accessTokenCacheConfigShape, accessTokenCaches, type AccessTokenCaches } from './access-tokens.ts';
import { apiTokenCache, apiTokenCacheConfigShape, type ApiTokenAnswers } from './api-token-auth.ts';
import { membershipAnswerCache, membershipCacheConfigShape, type MembershipAnswers } from './membership-lookup.ts';

/** The budgets of the caches about callers, in every service with tenant calls (identity has only the first). */
export const callerCacheConfigShape = {
  ...accessTokenCacheConfigShape,
  ...apiTokenCacheConfigShape,
  ...membershipCacheConfigShape,
};

export interface CallerCacheConfig {
  ACCESS_TOKEN_CACHE_MAX_ENTRIES: number;
  API_TOKEN_CACHE_MAX_ENTRIES: number;
  MEMBERSHIP_CACHE_MAX_ENTRIES: number;
  MEMBERSHIP_CACHE_TTL_MS: number;
}

/**
 * What a service remembers about who calls it, made where the service is composed (its server.ts passes each
 * to its user and registers each with observeCaches):
 *  - accessTokens: identity's key set (`jwks`) and the access tokens that verified (`access_token`);
 *  - apiTokens: org's answers about `tm_` API tokens (`api_token`, at most 1 s);
 *  - memberships: org's membership answers (`membership`, evicted by membership events).
 */
export interface CallerCaches {
  accessTokens: AccessTokenCaches;
  apiTokens: ApiTokenAnswers;
  memberships: MembershipAnswers;
}

export function callerCaches(config: CallerCacheConfig): CallerCaches {
  return {
    accessTokens: accessTokenCaches({ maxEntries: config.ACCESS_TOKEN_CACHE_MAX_ENTRIES }),
    apiTokens: apiTokenCache({ maxEntries: config.API_TOKEN_CACHE_MAX_ENTRIES }),
    memberships: membershipAnswerCache({ ttlMs: config.MEMBERSHIP_CACHE_TTL_MS, maxEntries: config.MEMBERSHIP_CACHE_MAX_ENTRIES }),
  };
}

