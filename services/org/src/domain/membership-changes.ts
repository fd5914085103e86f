/** Told after a membership or organization changed, so the process's membership cache drops it at once. */
export interface MembershipChangeListener {
  evict(orgId: string, userId: string): void;
  evictOrganization(orgId: string): void;
}
