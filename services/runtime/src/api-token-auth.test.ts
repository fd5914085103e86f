import { describe, expect, it } from 'vitest';
import { actorOfEvent, apiTokenCache, cachedApiTokens, runAsApiToken, type ApiTokenGrant } from './api-token-auth.ts';

const grant: ApiTokenGrant = { tokenId: 't1', orgId: 'o1', role: 'MEMBER', orgSuspended: false };

describe('cachedApiTokens', () => {
  it('remembers an answer for its ttl and asks again after it', async () => {
    let calls = 0;
    let clock = 0;
    const cache = cachedApiTokens(async () => (calls++, grant), apiTokenCache({ ttlMs: 500, maxEntries: 100, now: () => clock }));
    expect(await cache('tm_a')).toEqual(grant);
    clock = 499;
    await cache('tm_a');
    expect(calls).toBe(1);
    clock = 500;
    await cache('tm_a');
    expect(calls).toBe(2);
  });

  it('refuses a ttl over one second, so revocation always bites within a second', () => {
    expect(() => apiTokenCache({ ttlMs: 1_001, maxEntries: 100 })).toThrow(/between 0 and 1000/);
  });

  it('remembers a refusal too, shares one call among concurrent lookups, and keeps within its entry budget', async () => {
    const asked: string[] = [];
    let clock = 0;
    const answers = apiTokenCache({ maxEntries: 4, now: () => clock });
    const resolve = cachedApiTokens(async (token) => (asked.push(token), token === 'tm_good' ? grant : undefined), answers);
    expect(await Promise.all([resolve('tm_bad'), resolve('tm_bad')])).toEqual([undefined, undefined]);
    expect(await resolve('tm_bad')).toBeUndefined();
    expect(asked).toEqual(['tm_bad']);
    expect([answers.hits, answers.misses]).toEqual([1, 2]);
    // The default ttl is half a second: a revoked token is asked about again after it.
    clock = 500;
    expect(await resolve('tm_bad')).toBeUndefined();
    expect(asked).toEqual(['tm_bad', 'tm_bad']);
    for (let i = 0; i < 10; i++) await resolve(`tm_${i}`);
    expect(answers.size).toBeLessThanOrEqual(4);
    expect(answers.evictions).toBeGreaterThan(0);
    expect(await resolve('tm_good')).toEqual(grant);
  });
});

describe('actorOfEvent', () => {
  it('names the token instead of users/{tokenId} while a token acts, and leaves other actors alone', () => {
    expect(actorOfEvent('users/t1')).toBe('users/t1');
    runAsApiToken(grant, () => {
      expect(actorOfEvent('users/t1')).toBe('organizations/o1/apiTokens/t1');
      expect(actorOfEvent('users/someone')).toBe('users/someone');
    });
  });
});
