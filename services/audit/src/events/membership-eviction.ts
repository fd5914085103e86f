import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import type { MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { MemberRemoved, MemberRoleChanged } from '@taskmesh/gen/taskmesh/org/v1/events.js';

/**
 * Evicts this process's cached memberships on the membership events the audit consumer records, so a demoted
 * or removed admin loses the audit log at once here rather than after the cache TTL. Replicas share the
 * durable consumer, so the other replicas of this service still rely on the (short) TTL.
 */
export function evictOnMembershipChange(cache: MembershipCache): (event: ReceivedEvent) => void {
  return (event) => {
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
  };
}
