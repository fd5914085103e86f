import type { AnalyticsServiceService, SummarizeAnalyticsRequest } from '@taskmesh/gen/taskmesh/analytics/v1/analytics_service.js';
import type { AccessTable } from '@taskmesh/runtime/org-context';

/** Who may call which AnalyticsService RPC (API.md "Roles": analytics is for owners and admins). */
export const analyticsAccessTable = {
  summarizeAnalytics: { roles: ['OWNER', 'ADMIN'], orgFrom: (request: SummarizeAnalyticsRequest) => request.organization },
} as const satisfies AccessTable<typeof AnalyticsServiceService>;
