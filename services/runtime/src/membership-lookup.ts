import { status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import type { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { z } from 'zod';
import { callUnary } from './grpc-client.ts';
import { GenerationalCache } from './generational-cache.ts';

/** A member's role in an organization; the permission matrix (API.md "Roles") is written in these. */
export const ORG_ROLES = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

const FROM_PROTO: Partial<Record<Role, OrgRole>> = {
  [Role.ROLE_OWNER]: 'OWNER',
  [Role.ROLE_ADMIN]: 'ADMIN',
  [Role.ROLE_MEMBER]: 'MEMBER',
  [Role.ROLE_VIEWER]: 'VIEWER',
};
const TO_PROTO: Record<OrgRole, Role> = {
  OWNER: Role.ROLE_OWNER,
  ADMIN: Role.ROLE_ADMIN,
  MEMBER: Role.ROLE_MEMBER,
  VIEWER: Role.ROLE_VIEWER,
};

export function roleFromProto(role: Role): OrgRole | undefined {
  return FROM_PROTO[role];
}
export function roleToProto(role: OrgRole): Role {
  return TO_PROTO[role];
}

/** A live membership as the org-context chain needs it: the role, and whether the org is suspended. */
export interface OrgMembership {
  role: OrgRole;
  orgSuspended: boolean;
}

/** Answers "which role has this user in this org?"; undefined when not a member or the org is gone. */
export interface MembershipLookup {
  roleOf(orgId: string, userId: string): Promise<OrgRole | undefined>;
  /** The same answer with the org's suspension (issue 15), which the chain checks on every tenant call. */
  membershipOf(orgId: string, userId: string): Promise<OrgMembership | undefined>;
}

/** A lookup from its membershipOf alone. */
export function membershipLookup(membershipOf: MembershipLookup['membershipOf']): MembershipLookup {
  return { membershipOf, roleOf: async (orgId, userId) => (await membershipOf(orgId, userId))?.role };
}

/** A lookup from roles alone, every org active (tests that don't exercise suspension). */
export function activeOrgsLookup(roleOf: MembershipLookup['roleOf']): MembershipLookup {
  return membershipLookup(async (orgId, userId) => {
    const role = await roleOf(orgId, userId);
    return role ? { role, orgSuspended: false } : undefined;
  });
}

/** The lookup every service but org uses: org's internal GetMembership RPC through its typed stub. */
export function membershipLookupViaOrgService(client: OrgServiceClient, options: { timeoutMs?: number } = {}): MembershipLookup {
  return membershipLookup(async (orgId, userId) => {
    try {
      const res = await callUnary(
        client,
        client.getMembership,
        { organization: `organizations/${orgId}`, user: `users/${userId}` },
        { timeoutMs: options.timeoutMs ?? 5_000 },
      );
      const role = res.membership ? roleFromProto(res.membership.role) : undefined;
      return role ? { role, orgSuspended: res.membership!.organizationSuspended } : undefined;
    } catch (err) {
      if ((err as ServiceError).code === GrpcCode.NOT_FOUND) return undefined;
      throw err;
    }
  });
}

export interface MembershipCache extends MembershipLookup {
  /** Drops the cached membership of one user in one org (ids or resource names); on MemberRoleChanged/MemberRemoved. */
  evict(org: string, user: string): void;
  /** Drops every cached membership of an org; on OrganizationDeleted, Suspended and Reactivated. */
  evictOrganization(org: string): void;
  clear(): void;
}

/** Positive membership answers by `orgId/userId`, as cachedMembershipLookup keeps them. */
export type MembershipAnswers = GenerationalCache<string, OrgMembership>;

/** Longest a membership answer may be reused: a role change must take effect quickly even if an event is lost. */
export const MEMBERSHIP_CACHE_MAX_TTL_MS = 30_000;

/** The budget of a service's membership cache, shared by every service that checks memberships. */
export const membershipCacheConfigShape = {
  /** Most membership answers kept at once (0: none). */
  MEMBERSHIP_CACHE_MAX_ENTRIES: z.coerce.number().int().min(0).default(10_000),
};

/**
 * The cache of membership answers (`membership` in the metrics): at most maxEntries, each for ttlMs (0 keeps
 * nothing; at most 30 s).
 */
export function membershipAnswerCache(options: { ttlMs: number; maxEntries: number; now?: () => number }): MembershipAnswers {
  if (options.ttlMs < 0 || options.ttlMs > MEMBERSHIP_CACHE_MAX_TTL_MS) throw new Error('membership cache ttl must be between 0 and 30000 ms');
  return new GenerationalCache({ name: 'membership', unit: 'entries', budget: options.maxEntries, maxAgeMs: options.ttlMs, now: options.now });
}

const idOf = (nameOrId: string) => nameOrId.slice(nameOrId.lastIndexOf('/') + 1);

/**
 * Answers from `answers` (see membershipAnswerCache) and keeps positive ones there. "Not a member" is never cached, so
 * a user who just accepted an invitation gets in at once. Concurrent lookups of one key share one call.
 */
export function cachedMembershipLookup(source: MembershipLookup, answers: MembershipAnswers): MembershipCache {
  const inFlight = new Map<string, Promise<OrgMembership | undefined>>();
  // Bumped by every eviction, so a lookup that started before an eviction doesn't store its stale answer.
  let generation = 0;
  const keyOf = (orgId: string, userId: string) => `${orgId}/${userId}`;

  const membershipOf = async (orgId: string, userId: string): Promise<OrgMembership | undefined> => {
    if (!answers.enabled) return source.membershipOf(orgId, userId);
    const key = keyOf(orgId, userId);
    const hit = answers.get(key, undefined);
    if (hit !== undefined) return hit;
    const pending = inFlight.get(key);
    if (pending) return pending;
    const started = generation;
    const lookup = source
      .membershipOf(orgId, userId)
      .then((membership) => {
        if (membership && started === generation) answers.set(key, membership, undefined);
        return membership;
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, lookup);
    return lookup;
  };
  return {
    ...membershipLookup(membershipOf),
    evict(org, user) {
      generation++;
      answers.delete(keyOf(idOf(org), idOf(user)));
    },
    evictOrganization(org) {
      generation++;
      const prefix = `${idOf(org)}/`;
      answers.deleteWhere((key) => key.startsWith(prefix));
    },
    clear() {
      generation++;
      answers.clear();
    },
  };
}
