import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialAuditSchema } from './0001-initial.ts';
import { ErasedAddresses } from './0002-erased-addresses.ts';

/** Every migration of the audit schema, in order (names are ids in the database: never rename one). */
export const auditMigrations = migrationList({
  '0001-initial': InitialAuditSchema,
  '0002-erased-addresses': ErasedAddresses,
});
