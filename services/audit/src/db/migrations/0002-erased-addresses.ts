import { Migration } from '@mikro-orm/migrations';

/**
 * Erasing an account blanks its e-mail address in the entries that carry it (invitations): each such entry
 * notes the digest of the address it carries, and the append-only trigger lets exactly one edit through, the
 * payload rewritten and the digest cleared by a transaction that names that digest, nothing else changed.
 */
export class ErasedAddresses extends Migration {
  override name = '0002-erased-addresses';

  override up(): void {
    this.addSql(`
      alter table audit_events add column subject_email_sha256 text null;
      create index audit_events_subject_email_idx on audit_events (subject_email_sha256) where subject_email_sha256 is not null;
      create policy audit_events_erasure_select on audit_events for select
        using (subject_email_sha256 = nullif(current_setting('app.erased_email_sha256', true), ''));
      create policy audit_events_erasure_update on audit_events for update
        using (subject_email_sha256 = nullif(current_setting('app.erased_email_sha256', true), ''))
        with check (subject_email_sha256 is null);
      create or replace function audit_events_append_only() returns trigger language plpgsql as $$
      begin
        if old.subject_email_sha256 = nullif(current_setting('app.erased_email_sha256', true), '')
          and new.subject_email_sha256 is null
          and (new.id, new.org_id, new.event_type, new.actor, new.resource, new.occur_time, new.changes, new.recorded_at)
            is not distinct from (old.id, old.org_id, old.event_type, old.actor, old.resource, old.occur_time, old.changes, old.recorded_at)
        then
          return new;
        end if;
        raise exception 'audit events are append-only';
      end $$;
    `);
  }
}
