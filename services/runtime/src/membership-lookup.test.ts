import { describe, expect, it } from 'vitest';
import { activeOrgsLookup, cachedMembershipLookup, membershipAnswerCache, type MembershipLookup, type OrgMembership, type OrgRole } from './membership-lookup.ts';

function countingSource(roles: Record<string, OrgRole | undefined>) {
  const calls: string[] = [];
  const source: MembershipLookup = activeOrgsLookup(async (orgId, userId) => {
    calls.push(`${orgId}/${userId}`);
    return roles[`${orgId}/${userId}`];
  });
  return { source, calls, roles };
}

describe('membership cache', () => {
  it('answers repeated lookups from the cache until the ttl passes', async () => {
    let now = 1_000;
    const { source, calls } = countingSource({ 'o/u': 'ADMIN' });
    const cache = cachedMembershipLookup(source, membershipAnswerCache({ ttlMs: 30_000, maxEntries: 100, now: () => now }));
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(calls).toHaveLength(1);
    now += 30_001;
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(calls).toHaveLength(2);
  });

  it('never caches "not a member", so a new member gets in at once', async () => {
    const { source, calls, roles } = countingSource({});
    const cache = cachedMembershipLookup(source, membershipAnswerCache({ ttlMs: 30_000, maxEntries: 100 }));
    expect(await cache.roleOf('o', 'u')).toBeUndefined();
    roles['o/u'] = 'MEMBER';
    expect(await cache.roleOf('o', 'u')).toBe('MEMBER');
    expect(calls).toHaveLength(2);
  });

  it('evicts one membership (by id or resource name) or a whole organization', async () => {
    const { source, roles } = countingSource({ 'o/u': 'OWNER', 'o/v': 'VIEWER', 'p/u': 'MEMBER' });
    const cache = cachedMembershipLookup(source, membershipAnswerCache({ ttlMs: 30_000, maxEntries: 100 }));
    await Promise.all([cache.roleOf('o', 'u'), cache.roleOf('o', 'v'), cache.roleOf('p', 'u')]);
    roles['o/u'] = 'VIEWER';
    roles['o/v'] = undefined;
    roles['p/u'] = 'ADMIN';
    expect(await cache.roleOf('o', 'u')).toBe('OWNER');
    cache.evict('organizations/o', 'users/u');
    expect(await cache.roleOf('o', 'u')).toBe('VIEWER');
    expect(await cache.roleOf('p', 'u')).toBe('MEMBER');
    cache.evictOrganization('organizations/o');
    expect(await cache.roleOf('o', 'v')).toBeUndefined();
    expect(await cache.roleOf('p', 'u')).toBe('MEMBER');
  });

  it('does not store an answer fetched before an eviction', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let role: OrgRole = 'OWNER';
    const source: MembershipLookup = activeOrgsLookup(async () => {
      const seen = role;
      await gate;
      return seen;
    });
    const cache = cachedMembershipLookup(source, membershipAnswerCache({ ttlMs: 30_000, maxEntries: 100 }));
    const stale = cache.roleOf('o', 'u');
    role = 'VIEWER';
    cache.evict('o', 'u');
    release();
    expect(await stale).toBe('OWNER');
    expect(await cache.roleOf('o', 'u')).toBe('VIEWER');
  });

  it('refuses a ttl above 30 s', () => {
    expect(() => membershipAnswerCache({ ttlMs: 60_000, maxEntries: 100 })).toThrow(/30000/);
  });

  it('counts hits and misses, shares one call among concurrent lookups, and keeps within its entry budget', async () => {
    const roles: Record<string, OrgRole> = {};
    for (let i = 0; i < 10; i++) roles[`o/u${i}`] = 'MEMBER';
    const { source, calls } = countingSource(roles);
    const answers = membershipAnswerCache({ ttlMs: 30_000, maxEntries: 4 });
    const cache = cachedMembershipLookup(source, answers);
    const together = await Promise.all([cache.roleOf('o', 'u0'), cache.roleOf('o', 'u0'), cache.roleOf('o', 'u0')]);
    expect(together).toEqual(['MEMBER', 'MEMBER', 'MEMBER']);
    expect(calls).toEqual(['o/u0']);
    expect([answers.hits, answers.misses]).toEqual([0, 3]);
    expect(await cache.roleOf('o', 'u0')).toBe('MEMBER');
    expect(answers.hits).toBe(1);
    for (let i = 1; i < 10; i++) await cache.roleOf('o', `u${i}`);
    expect(answers.size).toBeLessThanOrEqual(4);
    expect(answers.evictions).toBeGreaterThan(0);
    // The first answer was pushed out by the budget: asked again.
    await cache.roleOf('o', 'u0');
    expect(calls.filter((key) => key === 'o/u0')).toHaveLength(2);
  });

  it('with a ttl of 0 keeps and counts nothing, asking every time', async () => {
    const { source, calls } = countingSource({ 'o/u': 'OWNER' });
    const answers = membershipAnswerCache({ ttlMs: 0, maxEntries: 100 });
    const cache = cachedMembershipLookup(source, answers);
    await cache.membershipOf('o', 'u');
    expect(await cache.membershipOf('o', 'u')).toEqual({ role: 'OWNER', orgSuspended: false } satisfies OrgMembership);
    expect(calls).toHaveLength(2);
    expect([answers.size, answers.hits, answers.misses]).toEqual([0, 0, 0]);
  });
});
