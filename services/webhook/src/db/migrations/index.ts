import { migrationList } from '@taskmesh/runtime/migrations';
import { InitialWebhookSchema } from './0001-initial.ts';
import { OutboxTraceContext } from './0002-outbox-trace-context.ts';
import { SuspendedOrgs } from './0003-suspended-orgs.ts';
import { DeliveryRetention } from './0004-delivery-retention.ts';
import { SecretRotation } from './0005-secret-rotation.ts';
import { KekReseal } from './0006-kek-reseal.ts';

/** Every migration of the webhook schema, in order (names are ids in the database: never rename one). */
export const webhookMigrations = migrationList({
  '0001-initial': InitialWebhookSchema,
  '0002-outbox-trace-context': OutboxTraceContext,
  '0003-suspended-orgs': SuspendedOrgs,
  '0004-delivery-retention': DeliveryRetention,
  '0005-secret-rotation': SecretRotation,
  '0006-kek-reseal': KekReseal,
});
