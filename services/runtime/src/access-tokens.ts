import type { Metadata } from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet } from 'jose';
import { UnauthenticatedError } from './errors.ts';

/** Who is calling, from a verified access token. */
export interface Principal {
  userId: string;
  sessionId: string;
  tokenId: string;
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

  async function load(): Promise<void> {
    loading ??= options
      .fetchJwks()
      .then((jwks) => {
        keys = createLocalJWKSet(jwks);
        fetchedAt = Date.now();
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  }

  async function verifyOnce(token: string) {
    if (!keys || Date.now() - fetchedAt > maxAge) await load();
    return jwtVerify(token, keys!, {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      requiredClaims: ['sub', 'sid', 'jti', 'exp', 'iat'],
      clockTolerance: options.clockToleranceSeconds ?? 5,
    });
  }

  async function verify(token: string): Promise<Principal> {
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
      return { userId: sub, sessionId: sid, tokenId: jti };
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
      const match = /^Bearer\s+([A-Za-z0-9\-_.]+)$/i.exec(header.trim());
      if (!match) throw new UnauthenticatedError('invalid authorization header', { reason: 'TOKEN_INVALID' });
      return verify(match[1]!);
    },
  };
}
