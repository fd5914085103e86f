import type { Metadata } from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet } from 'jose';
import type { EndedSessions } from './ended-sessions.ts';
import { UnauthenticatedError } from './errors.ts';
import { recordCacheLookup } from './cache-metrics.ts';
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
  /** Cached key set is refreshed after this age even without an unknown kid. */
  maxAgeMs?: number;
  clockToleranceSeconds?: number;
  /**
   * A token that verified is remembered this long (at most until it expires), so a client's every call does
   * not cost a signature check. Forgotten whenever the key set is reloaded. 0 turns it off. Default 60 s.
   */
  verifiedTtlMs?: number;
  /** Tokens remembered at most; the oldest are dropped first. Default 10,000. */
  maxVerified?: number;
  /**
   * Sessions that ended (log-out, password reset...): their tokens are refused although their signature
   * holds. Loaded before the first token is checked.
   */
  endedSessions?: EndedSessions;
  /** Resolves `tm_…` API tokens; without it (identity) they are refused as invalid. */
  apiTokens?: ApiTokenResolver;
}

interface Remembered {
  token: string;
  principal: Principal;
  until: number;
}

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
  const maxAge = options.maxAgeMs ?? 10 * 60_000;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = 0;
  let loading: Promise<void> | undefined;
  const tolerance = options.clockToleranceSeconds ?? 5;
  const verifiedTtl = options.verifiedTtlMs ?? 60_000;
  const maxVerified = options.maxVerified ?? 10_000;
  const ended = options.endedSessions;
  /** The principal, unless its session has ended. */
  const live = (principal: Principal): Principal => {
    if (ended?.has(principal.sessionId)) throw new UnauthenticatedError('session has ended', { reason: 'SESSION_ENDED' });
    return principal;
  };
  // The exact token string (signature included) → what it verified to against the current key set.
  const verified = new Map<string, Remembered>();
  // The exact `authorization` header → the remembered entry of the token it carries, so a client's next call
  // is answered without trimming and matching the header again. An entry counts only while it is still the
  // one `verified` holds for its token (so a reload or an eviction there forgets it here too).
  const byHeader = new Map<string, Remembered>();

  async function load(): Promise<void> {
    loading ??= options
      .fetchJwks()
      .then((jwks) => {
        keys = createLocalJWKSet(jwks);
        fetchedAt = Date.now();
        // A key may have been retired: every token is checked against the new set again.
        verified.clear();
        byHeader.clear();
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  async function verifyOnce(token: string) {
    const stale = !keys || Date.now() - fetchedAt > maxAge;
    recordCacheLookup('jwks', !stale);
    if (stale) await load();
    return jwtVerify(token, keys!, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat'],
      clockTolerance: tolerance,
    });
  }

  /** A remembered entry still usable now: not past its time, and the key set not due for a refresh. */
  const usable = (entry: Remembered) => {
    const now = Date.now();
    return entry.until > now && now - fetchedAt <= maxAge;
  };

  async function verify(token: string): Promise<Principal> {
    if (isApiToken(token)) return verifyApiToken(token);
    if (ended && !ended.loaded) await ended.ensureLoaded();
    const known = verified.get(token);
    if (known) {
      if (usable(known)) return live(known.principal);
      verified.delete(token);
    }
    return live(await verifySignature(token));
  }

  async function verifyApiToken(token: string): Promise<Principal> {
    const grant = options.apiTokens ? await options.apiTokens(token) : undefined;
    if (!grant) throw new UnauthenticatedError('invalid access token', { reason: 'TOKEN_INVALID' });
    return { userId: grant.tokenId, sessionId: '', tokenId: grant.tokenId, apiToken: grant };
  }

  async function verifySignature(token: string): Promise<Principal> {
    try {
      let result;
      try {
        result = await verifyOnce(token);
      } catch (err) {
        if (!(err instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - fetchedAt < minRefresh) throw err;
        await load();
        result = await verifyOnce(token);
      }
      const { sub, sid, jti } = result.payload;
      if (typeof sid !== 'string' || !sub || !jti) throw new UnauthenticatedError('invalid access token');
      const principal = { userId: sub, sessionId: sid, tokenId: jti };
      if (verifiedTtl > 0 && typeof result.payload.exp === 'number') {
        // Never past the moment jose itself would start refusing it as expired.
        const until = Math.min((result.payload.exp + tolerance) * 1000, Date.now() + verifiedTtl);
        if (verified.size >= maxVerified) verified.delete(verified.keys().next().value!);
        verified.set(token, { token, principal, until });
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
      const seen = byHeader.get(header);
      if (seen !== undefined) {
        if (verified.get(seen.token) === seen && usable(seen)) return live(seen.principal);
        byHeader.delete(header);
      }
      const match = /^Bearer\s+([A-Za-z0-9\-_.]+)$/i.exec(header.trim());
      if (!match) throw new UnauthenticatedError('invalid authorization header', { reason: 'TOKEN_INVALID' });
      const token = match[1]!;
      const principal = await verify(token);
      const entry = verified.get(token);
      if (entry !== undefined) {
        if (byHeader.size >= maxVerified) byHeader.delete(byHeader.keys().next().value!);
        byHeader.set(header, entry);
      }
      return principal;
    },
  };
}
