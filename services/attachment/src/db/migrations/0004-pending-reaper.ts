import { Migration } from '@mikro-orm/migrations';
import { REAP_BEFORE_SQL } from '../reap-scope.ts';

/**
 * The pending-attachment reaper: an index on pending rows by age, and one narrow read-only RLS scope through
 * which it finds the orgs holding stale pending rows (never writable: each org's rows are deleted in a
 * transaction bound to that org, as the org purge does).
 */
export class PendingAttachmentReaper extends Migration {
  override name = '0004-pending-reaper';

  override up(): void {
    this.addSql(`
      create index attachments_pending_age_idx on attachments (created_at) where state = 'PENDING';
      create policy attachments_stale_pending_select on attachments for select
        using (state = 'PENDING' and created_at < ${REAP_BEFORE_SQL});
    `);
  }
}
