import { describe, expect, it } from 'vitest';
import { activeOrgsLookup, cachedMembershipLookup, type MembershipLookup, type OrgRole } from './membership-lookup.ts';

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
    const cache = cachedMembershipLookup(source, { ttlMs: 30_000, now: () => now });
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(calls).toHaveLength(1);
    now += 30_001;
    expect(await cache.roleOf('o', 'u')).toBe('ADMIN');
    expect(calls).toHaveLength(2);
  });

  it('never caches "not a member", so a new member gets in at once', async () => {
    const { source, calls, roles } = countingSource({});
    const cache = cachedMembershipLookup(source, { ttlMs: 30_000 });
    expect(await cache.roleOf('o', 'u')).toBeUndefined();
    roles['o/u'] = 'MEMBER';
    expect(await cache.roleOf('o', 'u')).toBe('MEMBER');
    expect(calls).toHaveLength(2);
  });

  it('evicts one membership (by id or resource name) or a whole organization', async () => {
    const { source, roles } = countingSource({ 'o/u': 'OWNER', 'o/v': 'VIEWER', 'p/u': 'MEMBER' });
    const cache = cachedMembershipLookup(source, { ttlMs: 30_000 });
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
    const cache = cachedMembershipLookup(source, { ttlMs: 30_000 });
    const stale = cache.roleOf('o', 'u');
    role = 'VIEWER';
    cache.evict('o', 'u');
    release();
    expect(await stale).toBe('OWNER');
    expect(await cache.roleOf('o', 'u')).toBe('VIEWER');
  });

  it('refuses a ttl above 30 s', () => {
    expect(() => cachedMembershipLookup(countingSource({}).source, { ttlMs: 60_000 })).toThrow(/30000/);
  });
});
