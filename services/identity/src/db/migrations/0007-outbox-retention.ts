import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_PUBLISHED_INDEX_SQL } from '@taskmesh/runtime/outbox';

/** The index by which the retention purge finds published outbox rows (the runtime's DDL, shared by every producing service). */
export class OutboxRetention extends Migration {
  override name = '0007-outbox-retention';

  override up(): void {
    this.addSql(OUTBOX_PUBLISHED_INDEX_SQL);
  }
}
