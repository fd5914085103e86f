import { describe, expect, it } from 'vitest';
import { actorOfEvent, cachedApiTokens, runAsApiToken, type ApiTokenGrant } from './api-token-auth.ts';

const grant: ApiTokenGrant = { tokenId: 't1', orgId: 'o1', role: 'MEMBER', orgSuspended: false };

describe('cachedApiTokens', () => {
  it('remembers an answer for its ttl and asks again after it', async () => {
    let calls = 0;
    let clock = 0;
    const cache = cachedApiTokens(async () => (calls++, grant), { ttlMs: 500, now: () => clock });
    expect(await cache('tm_a')).toEqual(grant);
    clock = 499;
    await cache('tm_a');
    expect(calls).toBe(1);
    clock = 500;
    await cache('tm_a');
    expect(calls).toBe(2);
  });

  it('refuses a ttl over one second, so revocation always bites within a second', () => {
    expect(() => cachedApiTokens(async () => undefined, { ttlMs: 1_001 })).toThrow(/between 0 and 1000/);
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
