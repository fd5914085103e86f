import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialNotifySchema } from './0001-initial.ts';
import { SuspendedOrganizations } from './0002-suspended-organizations.ts';
import { MailRetention } from './0003-mail-retention.ts';

/** Every migration of the notify schema, in order (names are ids in the database: never rename one). */
export const notifyMigrations = migrationList({
  '0001-initial': InitialNotifySchema,
  '0002-suspended-organizations': SuspendedOrganizations,
  '0003-mail-retention': MailRetention,
});
