import type { Metadata } from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet } from 'jose';
import { z } from 'zod';
import type { EndedSessions } from './ended-sessions.ts';
import { UnauthenticatedError } from './errors.ts';
import { GenerationalCache } from './generational-cache.ts';
import { isApiToken, type ApiTokenGrant, type ApiTokenResolver } from './api-token-auth.ts';

/** Who is calling, from a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  tokenId: string;
  /** Set when the caller is an API token: it acts only in this org, with this role (userId is the token's id). */
  apiToken?: ApiTokenGrant;
}

export interface AccessTokenVerifierOptions {
  issuer: string;
  audience: string;
  /** Fetches identity's public JWKS (through its gRPC stub, or locally inside identity). */
  fetchJwks: () => Promise<JSONWebKeySet>;
  /** Cached key set is refreshed at most this often when a token names an unknown kid. */
  minRefreshIntervalMs?: number;
  clockToleranceSeconds?: number;
  /** The key set and the tokens that verified against it (see accessTokenCaches), made where the service is composed. */
  caches: AccessTokenCaches;
  /**
   * Sessions that ended (log-out, password reset...): their tokens are refused although their signature
   * holds. Loaded before the first token is checked.
   */
  endedSessions?: EndedSessions;
  /** Resolves `tm_…` API tokens; without it (identity) they are refused as invalid. */
  apiTokens?: ApiTokenResolver;
}

type KeySet = ReturnType<typeof createLocalJWKSet>;

/** A token that verified: who it names, until when it may be answered from memory, and against which key set. */
export interface Remembered {
  token: string;
  principal: Principal;
  until: number;
  keys: KeySet;
}

/** The caches of a verifier: identity's key set (`jwks`), and verified tokens by token and by header (`access_token`). */
export interface AccessTokenCaches {
  jwks: GenerationalCache<typeof KEY_SET, KeySet>;
  verified: GenerationalCache<string, Remembered>;
}

const KEY_SET = 'keys';

/** The budget of a service's verified-token cache. */
export const accessTokenCacheConfigShape = {
  /** Most verified access tokens and `authorization` headers kept at once (a header and its token are two; 0: none). */
  ACCESS_TOKEN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).default(10_000),
};

/**
 * The caches of an access token verifier. The key set is kept jwksMaxAgeMs (default 10 min) before it is
 * fetched again. A token that verified is remembered verifiedTtlMs (default 60 s, 0: never), at most until it
 * expires and only while the key set it verified against is the current one; maxEntries counts tokens and the
 * exact `authorization` headers that carried them (each header answered without parsing it again).
 */
export function accessTokenCaches(options: { maxEntries: number; verifiedTtlMs?: number; jwksMaxAgeMs?: number; now?: () => number }): AccessTokenCaches {
  return {
    // One entry: a budget of 2 is room for it (an entry may take at most half a budget).
    jwks: new GenerationalCache({ name: 'jwks', unit: 'entries', budget: 2, maxAgeMs: options.jwksMaxAgeMs ?? 10 * 60_000, now: options.now }),
    verified: new GenerationalCache({ name: 'access_token', unit: 'entries', budget: options.maxEntries, maxAgeMs: options.verifiedTtlMs ?? 60_000, now: options.now }),
  };
}

/** Header keys cannot meet token keys: a token never holds a space. */
const headerKey = (header: string) => `authorization: ${header}`;

export interface AccessTokenVerifier {
  verify(token: string): Promise<Principal>;
  /** Reads `authorization: Bearer <token>` from call metadata and verifies it. */
  authenticate(metadata: Metadata): Promise<Principal>;
}

/**
 * Verifies EdDSA access tokens locally against identity's JWKS: cached, and refreshed when a token carries
 * a kid the cache doesn't know (key rotation), rate-limited so forged kids can't hammer identity.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const minRefresh = options.minRefreshIntervalMs ?? 5_000;
  const { jwks, verified } = options.caches;
  let fetchedAt = 0;
  let loading: Promise<KeySet> | undefined;
  const tolerance = options.clockToleranceSeconds ?? 5;
  const ended = options.endedSessions;
  /** The principal, unless its session has ended. */
  const live = (principal: Principal): Principal => {
    if (ended?.has(principal.sessionId)) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    return principal;
  };

  function load(): Promise<KeySet> {
    loading ??= options
      .fetchJwks()
      .then((set) => {
        const keys = createLocalJWKSet(set);
        fetchedAt = Date.now();
        jwks.set(KEY_SET, keys, undefined);
        // A key may have been retired: every token is checked against the new set again.
        verified.clear();
        return keys;
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  async function verifyWith(token: string, keys: KeySet) {
    const result = await jwtVerify(token, keys, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat'],
      clockTolerance: tolerance,
    });
    return { result, keys };
  }

  /**
   * A remembered entry still usable now: not past its time, and verified against the key set in use (neither
   * reloaded nor past its age since).
   */
  const usable = (entry: Remembered) => entry.until > Date.now() && jwks.find(KEY_SET) === entry.keys;

  async function verify(token: string): Promise<Principal> {
    if (isApiToken(token)) return verifyApiToken(token);
    if (ended && !ended.loaded) await ended.ensureLoaded();
    const known = verified.find(token);
    if (known !== undefined && usable(known)) {
      verified.countLookup(true);
      return live(known.principal);
    }
    verified.countLookup(false);
    if (known !== undefined) verified.delete(token);
    return live(await verifySignature(token));
  }

  async function verifyApiToken(token: string): Promise<Principal> {
    const grant = options.apiTokens ? await options.apiTokens(token) : undefined;
    if (!grant) throw new UnauthenticatedError('invalid access token', { reason: 'TOKEN_INVALID' });
    return { userId: grant.tokenId, sessionId: '', tokenId: grant.tokenId, apiToken: grant };
  }

  async function verifySignature(token: string): Promise<Principal> {
    try {
      let verification;
      try {
        verification = await verifyWith(token, jwks.get(KEY_SET, undefined) ?? (await load()));
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - fetchedAt < minRefresh) throw err;
        verification = await verifyWith(token, await load());
      }
      const { result, keys } = verification;
      const { sub, sid, jti } = result.payload;
      if (typeof sid !== 'string' || !sub || !jti) throw new UnauthenticatedError('invalid access token');
      const principal = { userId: sub, sessionId: sid, tokenId: jti };
      if (verified.enabled && typeof result.payload.exp === 'number') {
        // Never past the moment jose itself would start refusing it as expired (the cache's age bounds it too).
        verified.set(token, { token, principal, until: (result.payload.exp + tolerance) * 1000, keys }, undefined);
      }
      return principal;
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new UnauthenticatedError('access token expired', { reason: 'TOKEN_EXPIRED' });
      }
      if (err instanceof joseErrors.JOSEError || err instanceof UnauthenticatedError || err instanceof TypeError) {
        throw new UnauthenticatedError('invalid access token', { reason: 'TOKEN_INVALID' });
      }
      throw err;
    }
  }

  return {
    verify,
    async authenticate(metadata) {
      const header = metadata.get('authorization')[0];
      if (typeof header !== 'string' || header.length === 0) throw new UnauthenticatedError();
      // The exact header → the entry of the token it carries, so a client's next call is answered without
      // trimming and matching the header again; it counts only while it is still the entry kept for its token.
      const seen = verified.find(headerKey(header));
      if (seen !== undefined) {
        if (verified.find(seen.token) === seen && usable(seen)) {
          verified.countLookup(true);
          return live(seen.principal);
        }
        verified.delete(headerKey(header));
      }
      const match = /^Bearer\s+([A-Za-z0-9\-_.]+)$/i.exec(header.trim());
      if (!match) throw new UnauthenticatedError('invalid authorization header', { reason: 'TOKEN_INVALID' });
      const token = match[1]!;
      const principal = await verify(token);
      const entry = verified.find(token);
      if (entry !== undefined) verified.set(headerKey(header), entry, undefined);
      return principal;
    },
  };
}
