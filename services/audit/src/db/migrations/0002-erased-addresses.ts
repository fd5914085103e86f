import { Migration } from '@mikro-orm/migrations';

/**
 * Erasing an account blanks its e-mail address in the entries that carry it (invitations): each such entry
 * notes the digest of the address it carries, and a transaction naming that digest may read and delete those
 * entries, and only those, across orgs, to write them again, blanked, each in its own org.
 */
export class ErasedAddresses extends Migration {
  override name = '0002-erased-addresses';

  override up(): void {
    this.addSql(`
      alter table audit_events add column subject_email_sha256 text null;
      create index audit_events_subject_email_idx on audit_events (subject_email_sha256) where subject_email_sha256 is not null;
      create policy audit_events_erasure_select on audit_events for select
        using (subject_email_sha256 = nullif(current_setting('app.erased_email_sha256', true), ''));
      create policy audit_events_erasure_delete on audit_events for delete
        using (subject_email_sha256 = nullif(current_setting('app.erased_email_sha256', true), ''));
    `);
  }
}
