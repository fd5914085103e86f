import { Migration } from '@mikro-orm/migrations';

/**
 * Platform administration (issue 15 §1): plan and suspension of organizations, the platform audit log, and
 * the one cross-org read of platform administrators: organizations and memberships (to count them) become
 * visible, read-only, when app.platform_admin is 'on' (set only by the AdminService's scope).
 */
export class PlatformAdministration extends Migration {
  override name = '0005-platform-administration';

  override up(): void {
    this.addSql(`
      alter table organizations
        add column plan text not null default 'FREE' check (plan in ('FREE', 'TEAM', 'ENTERPRISE')),
        add column suspended_at timestamptz null,
        add column suspend_reason text null;
      create index organizations_created_idx on organizations (created_at, id);
      create policy organizations_platform_select on organizations for select
        using (current_setting('app.platform_admin', true) = 'on');
      create policy memberships_platform_select on memberships for select
        using (current_setting('app.platform_admin', true) = 'on');
      create table platform_audit_events (
        id uuid primary key,
        actor_id uuid not null,
        action text not null,
        org_id uuid null,
        detail text not null,
        created_at timestamptz not null
      );
      create index platform_audit_events_created_idx on platform_audit_events (created_at desc, id desc);
      create index platform_audit_events_org_idx on platform_audit_events (org_id, created_at desc, id desc);
    `);
  }
}
