import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialIdentitySchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { KnownDevices } from './0003-known-devices.ts';
import { SealedSigningKeys } from './0004-sealed-signing-keys.ts';
import { UserErasure } from './0005-user-erasure.ts';
import { PlatformAdmins } from './0006-platform-admins.ts';
import { OutboxRetention } from './0007-outbox-retention.ts';

/** Every migration of the identity schema, in order (names are ids in the database: never rename one). */
export const identityMigrations = migrationList({
  '0001-initial': InitialIdentitySchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-known-devices': KnownDevices,
  '0004-sealed-signing-keys': SealedSigningKeys,
  '0005-user-erasure': UserErasure,
  '0006-platform-admins': PlatformAdmins,
  '0007-outbox-retention': OutboxRetention,
});
