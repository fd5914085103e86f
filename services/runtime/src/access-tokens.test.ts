import { Metadata } from '@grpc/grpc-js';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { accessTokenCaches, createAccessTokenVerifier } from './access-tokens.ts';
import { EndedSessions } from './ended-sessions.ts';
import { UnauthenticatedError } from './errors.ts';

async function signingKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, jwk, privateKey: privateKey as CryptoKey };
}

async function tokenFor(key: { kid: string; privateKey: CryptoKey }, expiresInSeconds = 900) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: 's1' })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt' })
    .setSubject('u1')
    .setJti(`t-${Math.random()}`)
    .setIssuer('issuer')
    .setAudience('audience')
    .setIssuedAt(now)
    .setExpirationTime(now + expiresInSeconds)
    .sign(key.privateKey);
}

const bearer = (token: string) => {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
};

const reasonOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (err: unknown) => (err instanceof UnauthenticatedError ? (err.reason ?? 'UNAUTHENTICATED') : String(err)),
  );

afterEach(() => {
  vi.useRealTimers();
});

describe('the access token verifier, remembering verified tokens', () => {
  it('still refuses a remembered token once it has expired', async () => {
    const key = await signingKey('k1');
    const verifier = createAccessTokenVerifier({ issuer: 'issuer', audience: 'audience', caches: accessTokenCaches({ maxEntries: 100 }), fetchJwks: async () => ({ keys: [key.jwk] }) });
    const token = await tokenFor(key, 20);
    expect(await verifier.authenticate(bearer(token))).toMatchObject({ userId: 'u1', sessionId: 's1' });
    expect(await verifier.authenticate(bearer(token))).toMatchObject({ userId: 'u1' });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 30_000);
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('TOKEN_EXPIRED');
  });

  it('forgets what it remembered when the key set is reloaded, so a retired key signs nothing any more', async () => {
    const retired = await signingKey('old');
    const current = await signingKey('new');
    let published = [retired.jwk];
    const verifier = createAccessTokenVerifier({
      issuer: 'issuer',
      audience: 'audience',
      minRefreshIntervalMs: 0,
      caches: accessTokenCaches({ maxEntries: 100 }),
      fetchJwks: async () => ({ keys: published }),
    });
    const oldToken = await tokenFor(retired);
    expect(await reasonOf(verifier.authenticate(bearer(oldToken)))).toBe('accepted');
    // Rotation: identity publishes only the new key; a token with the new kid makes the verifier reload.
    published = [current.jwk];
    expect(await reasonOf(verifier.authenticate(bearer(await tokenFor(current))))).toBe('accepted');
    expect(await reasonOf(verifier.authenticate(bearer(oldToken)))).toBe('TOKEN_INVALID');
  });

  it('remembers nothing with verifiedTtlMs 0 and refuses a token whose signature was altered', async () => {
    const key = await signingKey('k1');
    const verifier = createAccessTokenVerifier({
      issuer: 'issuer',
      audience: 'audience',
      caches: accessTokenCaches({ maxEntries: 100, verifiedTtlMs: 0 }),
      fetchJwks: async () => ({ keys: [key.jwk] }),
    });
    const token = await tokenFor(key);
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('accepted');
    const altered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect(await reasonOf(verifier.authenticate(bearer(altered)))).toBe('TOKEN_INVALID');
  });

  it('answers a repeated header from memory only while its token is remembered', async () => {
    const key = await signingKey('k1');
    let fetches = 0;
    // Room for one token and its header in the young half of the budget.
    const caches = accessTokenCaches({ maxEntries: 4 });
    const verifier = createAccessTokenVerifier({
      issuer: 'issuer',
      audience: 'audience',
      caches,
      fetchJwks: async () => (fetches++, { keys: [key.jwk] }),
    });
    const [first, second] = [await tokenFor(key), await tokenFor(key)];
    const header = (value: string) => {
      const metadata = new Metadata();
      metadata.set('authorization', value);
      return metadata;
    };
    // Spellings of one token are one token; a header that is not a bearer token is refused every time.
    for (const value of [`Bearer ${first}`, `bearer   ${first}`, ` Bearer ${first} `, `Bearer ${first}`]) {
      expect(await verifier.authenticate(header(value))).toMatchObject({ userId: 'u1', sessionId: 's1' });
    }
    for (let i = 0; i < 2; i++) expect(await reasonOf(verifier.authenticate(header(`Basic ${first}`)))).toBe('TOKEN_INVALID');
    expect(caches.verified.size).toBeLessThanOrEqual(4);
    // The second token and the altered one push the first out; the first's header is then checked again.
    expect(await reasonOf(verifier.authenticate(bearer(second)))).toBe('accepted');
    const altered = first.slice(0, -2) + (first.endsWith('AA') ? 'BB' : 'AA');
    expect(await reasonOf(verifier.authenticate(bearer(altered)))).toBe('TOKEN_INVALID');
    expect(await reasonOf(verifier.authenticate(bearer(second)))).toBe('accepted');
    const misses = caches.verified.misses;
    expect(await reasonOf(verifier.authenticate(bearer(first)))).toBe('accepted');
    expect(caches.verified.misses).toBe(misses + 1);
    expect(caches.verified.evictions).toBeGreaterThan(0);
    expect(caches.verified.size).toBeLessThanOrEqual(4);
    expect(fetches).toBe(1);
    // Past the token's expiry, the remembered header no longer answers.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 16 * 60_000);
    expect(await reasonOf(verifier.authenticate(bearer(first)))).toBe('TOKEN_EXPIRED');
  });
});

describe('the access token verifier, its key set', () => {
  it('counts key set lookups and, once the key set is past its age, fetches it again and checks every token anew', async () => {
    const key = await signingKey('k1');
    let fetches = 0;
    const caches = accessTokenCaches({ maxEntries: 100, jwksMaxAgeMs: 1_000, now: () => Date.now() });
    const verifier = createAccessTokenVerifier({ issuer: 'issuer', audience: 'audience', caches, fetchJwks: async () => (fetches++, { keys: [key.jwk] }) });
    const token = await tokenFor(key);
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('accepted');
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('accepted');
    expect([caches.jwks.hits, caches.jwks.misses, fetches]).toEqual([0, 1, 1]);
    expect([caches.verified.hits, caches.verified.misses]).toEqual([1, 1]);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 2_000);
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('accepted');
    expect([caches.jwks.misses, fetches]).toEqual([2, 2]);
    expect(caches.verified.misses).toBe(2);
    // A second token is checked against the key set in memory.
    expect(await reasonOf(verifier.authenticate(bearer(await tokenFor(key))))).toBe('accepted');
    expect([caches.jwks.hits, fetches]).toEqual([1, 2]);
  });
});

describe('the access token verifier and ended sessions', () => {
  it('refuses a remembered token once its session has ended, and loads the list before the first check', async () => {
    const key = await signingKey('k1');
    let loads = 0;
    const ended = new EndedSessions({
      load: async () => {
        loads++;
        return [{ sessionId: 'already-ended', forgetAt: Date.now() + 60_000 }];
      },
    });
    const verifier = createAccessTokenVerifier({ issuer: 'issuer', audience: 'audience', caches: accessTokenCaches({ maxEntries: 100 }), fetchJwks: async () => ({ keys: [key.jwk] }), endedSessions: ended });
    const token = await tokenFor(key);
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('accepted');
    expect(loads).toBe(1);
    expect(ended.has('already-ended')).toBe(true);
    ended.add('s1', Date.now() + 60_000);
    // Both the header fast path and the token path check the list.
    expect(await reasonOf(verifier.authenticate(bearer(token)))).toBe('SESSION_ENDED');
    expect(await reasonOf(verifier.verify(token))).toBe('SESSION_ENDED');
  });
});

describe('the ended-session list', () => {
  it('forgets an id once its tokens would have expired, and stays within its bound', async () => {
    const list = new EndedSessions({ load: async () => [], maxEntries: 3 });
    await list.ensureLoaded();
    const now = Date.now();
    list.add('past', now - 1);
    expect(list.has('past')).toBe(false);
    list.add('soon', now + 10_000);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now + 20_000);
    expect(list.has('soon')).toBe(false);
    for (const id of ['a', 'b', 'c', 'd']) list.add(id, Date.now() + 60_000);
    expect(list.size).toBe(3);
    expect(list.has('a')).toBe(false);
    expect(list.has('d')).toBe(true);
  });

  it('retries a failed load on the next check', async () => {
    let fail = true;
    const list = new EndedSessions({
      load: async () => {
        if (fail) throw new Error('identity unreachable');
        return [{ sessionId: 'x', forgetAt: Date.now() + 60_000 }];
      },
    });
    await expect(list.ensureLoaded()).rejects.toThrow('identity unreachable');
    fail = false;
    await list.ensureLoaded();
    expect(list.has('x')).toBe(true);
  });
});
