import { Migration } from '@mikro-orm/migrations';

/** CancelOperation: an export operation may end CANCELLED (done, error CANCELLED, no archive kept). */
export class ExportCancel extends Migration {
  override name = '0006-export-cancel';

  override up(): void {
    this.addSql(`
      alter table export_operations drop constraint export_operations_state_check;
      alter table export_operations add constraint export_operations_state_check
        check (state in ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'));
    `);
  }
}
