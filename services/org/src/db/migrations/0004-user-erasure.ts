import { Migration } from '@mikro-orm/migrations';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';

/**
 * The org service consumes UserErased: an idempotency record, and the one cross-org reach the erasure needs,
 * the invitations sent to the erased address (named by its digest in app.erased_email_sha256).
 */
export class UserErasureMigration extends Migration {
  override name = '0004-user-erasure';

  override up(): void {
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
    this.addSql(`
      create policy invitations_erasure_select on invitations for select
        using (encode(sha256(convert_to(email_normalized, 'UTF8')), 'hex') = nullif(current_setting('app.erased_email_sha256', true), ''));
      create policy invitations_erasure_delete on invitations for delete
        using (encode(sha256(convert_to(email_normalized, 'UTF8')), 'hex') = nullif(current_setting('app.erased_email_sha256', true), ''));
    `);
  }
}
