import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialAnalyticsSchema } from './0001-initial.ts';

/** Every migration of the analytics schema, in order (names are ids in the database: never rename one). */
export const analyticsMigrations = migrationList({
  '0001-initial': InitialAnalyticsSchema,
});
