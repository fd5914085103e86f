/** The plans of an organization (issue 15 §1); new organizations start on FREE. */
export const PLANS = ['FREE', 'TEAM', 'ENTERPRISE'] as const;
export type Plan = (typeof PLANS)[number];

/** Where an organization stands for platform administrators. */
export type OrgState = 'ACTIVE' | 'SUSPENDED' | 'DELETED';

export function orgStateOf(org: { deletedAt?: Date | null; suspendedAt?: Date | null }): OrgState {
  return org.deletedAt ? 'DELETED' : org.suspendedAt ? 'SUSPENDED' : 'ACTIVE';
}

/** A suspension's reason: required, at most 500 characters (it is shown in both audit logs). */
export const MAX_SUSPEND_REASON = 500;
