import { Migration } from '@mikro-orm/migrations';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';
import { PURGE_BEFORE_SQL } from '../purge-scope.ts';

export class InitialAuditSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table audit_events (
        -- The domain event's id: a redelivered or republished event conflicts here and is skipped.
        id uuid primary key,
        org_id uuid not null,
        event_type text not null,
        actor text not null,
        resource text not null,
        occur_time timestamptz not null,
        changes jsonb not null default '[]'::jsonb,
        payload bytea not null,
        recorded_at timestamptz not null default now()
      );
      -- The log is read newest first within an org, optionally narrowed to one actor or one resource.
      create index audit_events_org_time_idx on audit_events (org_id, occur_time desc, id desc);
      create index audit_events_org_actor_idx on audit_events (org_id, actor, occur_time desc, id desc);
      create index audit_events_org_resource_idx on audit_events (org_id, resource, occur_time desc, id desc);
      create index audit_events_occur_time_idx on audit_events (occur_time);

      -- An audit log that can be edited is not one: rows are only ever inserted, and deleted by retention.
      create function audit_events_append_only() returns trigger language plpgsql as $$
      begin
        raise exception 'audit events are append-only';
      end $$;
      create trigger audit_events_no_update before update on audit_events
        for each row execute function audit_events_append_only();
    `);
    // Tenant walls as everywhere, plus one narrow scope for retention: when the purge names its cutoff, rows
    // older than it are visible and deletable across orgs (never insertable or updatable).
    this.addSql(tenantRowLevelSecuritySql('audit_events', { alsoVisibleWhen: `occur_time < ${PURGE_BEFORE_SQL}` }));
    this.addSql(`create policy audit_events_expired_delete on audit_events for delete using (occur_time < ${PURGE_BEFORE_SQL});`);
  }
}
