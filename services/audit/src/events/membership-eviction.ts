import { randomUUID } from 'node:crypto';
import type { EventSubscription } from '@taskmesh/runtime/events/event-bus';
import type { MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { MemberRemoved, MemberRoleChanged } from '@taskmesh/gen/taskmesh/org/v1/events.js';

export const MEMBERSHIP_EVENT_TYPES = [
  'taskmesh.org.v1.MemberRoleChanged',
  'taskmesh.org.v1.MemberRemoved',
  'taskmesh.org.v1.OrganizationDeleted',
] as const;

/**
 * Evicts this process's cached memberships when a membership changes or ends, so a demoted or removed admin
 * loses the audit log within moments rather than after the cache TTL. A broadcast subscription: every replica
 * holds its own cache, so every replica must see every such event (the shared audit consumer gives each
 * event to one replica only). A missed event is bounded by the TTL, so there is nothing to redeliver.
 */
export function membershipEvictionSubscription(cache: MembershipCache): EventSubscription {
  return {
    consumer: `audit-membership-${randomUUID().slice(0, 8)}`,
    delivery: 'broadcast',
    types: MEMBERSHIP_EVENT_TYPES,
    maxDeliver: 1,
    async handle(event) {
      switch (event.type) {
        case 'taskmesh.org.v1.MemberRoleChanged':
          cache.evict(event.organization, MemberRoleChanged.decode(event.payload).user);
          break;
        case 'taskmesh.org.v1.MemberRemoved':
          cache.evict(event.organization, MemberRemoved.decode(event.payload).user);
          break;
        case 'taskmesh.org.v1.OrganizationDeleted':
          cache.evictOrganization(event.organization);
          break;
      }
    },
  };
}
