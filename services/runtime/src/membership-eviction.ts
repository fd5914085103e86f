import { randomUUID } from 'node:crypto';
import { MemberRemoved, MemberRoleChanged } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { ReceivedEvent } from './events/envelope.ts';
import type { EventSubscription } from './events/event-bus.ts';
import type { MembershipCache } from './membership-lookup.ts';

/** The org events after which a cached membership is wrong. */
export const MEMBERSHIP_EVENT_TYPES = [
  'taskmesh.org.v1.MemberRoleChanged',
  'taskmesh.org.v1.MemberRemoved',
  'taskmesh.org.v1.OrganizationDeleted',
  'taskmesh.org.v1.OrganizationSuspended',
  'taskmesh.org.v1.OrganizationReactivated',
] as const;

/** Drops what `event` made stale from the cache; false when the event is not about memberships. */
export function evictMembershipFor(cache: MembershipCache, event: ReceivedEvent): boolean {
  switch (event.type) {
    case 'taskmesh.org.v1.MemberRoleChanged':
      cache.evict(event.organization, MemberRoleChanged.decode(event.payload).user);
      return true;
    case 'taskmesh.org.v1.MemberRemoved':
      cache.evict(event.organization, MemberRemoved.decode(event.payload).user);
      return true;
    case 'taskmesh.org.v1.OrganizationDeleted':
    case 'taskmesh.org.v1.OrganizationSuspended':
    case 'taskmesh.org.v1.OrganizationReactivated':
      cache.evictOrganization(event.organization);
      return true;
    default:
      return false;
  }
}

/**
 * Evicts this process's cached memberships when a membership changes or ends, so a demoted or removed member
 * loses access within moments rather than after the cache TTL. A broadcast subscription: every replica holds
 * its own cache, so every replica must see every such event (a shared durable consumer would give each event
 * to one replica only). A missed event is bounded by the TTL, so there is nothing to redeliver.
 */
export function membershipEvictionSubscription(cache: MembershipCache, service: string): EventSubscription {
  return {
    consumer: `${service}-memberships-${randomUUID().slice(0, 8)}`,
    delivery: 'broadcast',
    types: MEMBERSHIP_EVENT_TYPES,
    maxDeliver: 1,
    handle: async (event) => {
      evictMembershipFor(cache, event);
    },
    // Eviction is idempotent, so a batch that threw may safely be handed to `handle` event by event.
    handleBatch: async (events) => {
      for (const event of events) evictMembershipFor(cache, event);
    },
  };
}
