import type { AnalyticsServiceService } from '@taskmesh/gen/taskmesh/analytics/v1/analytics_service.js';
import type { TenantAwareService } from '@taskmesh/runtime/org-context';
import { readSummary } from '../db/summary-store.ts';
import { daysOf, summaryQueryOf } from '../domain/summary-query.ts';
import { toSummaryResponse } from '../mapping.ts';
import type { analyticsAccessTable } from './access-table.ts';

export function analyticsHandlers(): TenantAwareService<typeof AnalyticsServiceService, typeof analyticsAccessTable> {
  return {
    async summarizeAnalytics(request, context) {
      const query = summaryQueryOf(context.org.id, request);
      return toSummaryResponse(daysOf(query), await readSummary(context.em, query));
    },
  };
}
