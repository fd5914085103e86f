import { Migration } from '@mikro-orm/migrations';
import { SuspendedOrgs } from './0003-suspended-orgs.ts';
import { OUTBOX_TABLE_SQL, outboxTraceContextMigration } from '@taskmesh/runtime/outbox';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/**
 * Endpoints, deliveries, their attempt log and the owners projection are tenant tables (filter + RLS).
 * delivery_due is the worker's schedule across orgs: ids and times only, no tenant data, so it has no RLS;
 * the worker reads each claimed delivery through a fork bound to the delivery's org.
 */
export class InitialWebhookSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table webhooks (
        id uuid primary key,
        org_id uuid not null,
        url text not null,
        event_types text[] not null,
        description text not null default '',
        state text not null,
        secret_sealed text not null,
        created_by uuid not null,
        failing_since timestamptz null,
        created_at timestamptz not null,
        updated_at timestamptz not null,
        unique (org_id, id)
      );
      create index webhooks_org_idx on webhooks (org_id, created_at, id);

      create table deliveries (
        id uuid primary key,
        org_id uuid not null,
        webhook_id uuid not null,
        event_id uuid not null,
        event_type text not null,
        body text not null,
        attempts integer not null,
        state text not null,
        created_at timestamptz not null,
        unique (org_id, id),
        -- A redelivered event fans out to nothing new.
        unique (org_id, webhook_id, event_id),
        foreign key (org_id, webhook_id) references webhooks (org_id, id) on delete cascade
      );

      create table delivery_attempts (
        id uuid primary key,
        org_id uuid not null,
        delivery_id uuid not null,
        webhook_id uuid not null,
        event_id uuid not null,
        event_type text not null,
        attempt integer not null,
        http_status integer not null,
        duration_ms integer not null,
        deliver_time timestamptz not null,
        state text not null,
        error text not null,
        foreign key (org_id, webhook_id) references webhooks (org_id, id) on delete cascade
      );
      create index delivery_attempts_webhook_idx on delivery_attempts (org_id, webhook_id, deliver_time desc, id desc);

      create table org_owners (
        org_id uuid not null,
        user_name text not null,
        primary key (org_id, user_name)
      );

      create table delivery_due (
        delivery_id uuid primary key,
        org_id uuid not null,
        next_attempt_at timestamptz not null,
        lease_until timestamptz null
      );
      create index delivery_due_next_idx on delivery_due (next_attempt_at);
    `);
    for (const table of ['webhooks', 'deliveries', 'delivery_attempts', 'org_owners']) this.addSql(tenantRowLevelSecuritySql(table));
    this.addSql(OUTBOX_TABLE_SQL);
  }
}

export const webhookMigrations = [
  { name: '0001-initial', class: InitialWebhookSchema },
  outboxTraceContextMigration,
  { name: '0003-suspended-orgs', class: SuspendedOrgs },
];
