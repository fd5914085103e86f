import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadAnalyticsConfig } from './config.ts';
import { analyticsMigrations } from './db/migrations/index.ts';
import { ANALYTICS_SERVICE_NAME, startAnalytics, type AnalyticsDeps, type RunningAnalytics } from './server.ts';

/** The analytics service as the stack builder composes it (npm start, tests, bench). */
export const analyticsService: ServiceDescriptor<RunningAnalytics> = {
  name: 'analytics',
  grpcService: ANALYTICS_SERVICE_NAME,
  defaultPort: 50061,
  entryPoint: 'services/analytics/src/main.ts',
  migrations: analyticsMigrations,
  start: ({ env, log, bus, inject }) => startAnalytics({ config: loadAnalyticsConfig(env), log, bus, ...(inject as Partial<AnalyticsDeps>) }),
};
