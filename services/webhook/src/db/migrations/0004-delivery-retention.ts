import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_PUBLISHED_INDEX_SQL } from '@taskmesh/runtime/outbox';
import { DELIVERY_FINISHED_AT_SQL, DELIVERY_PURGE_BEFORE_SQL } from '../retention-scope.ts';

/**
 * Retention of finished deliveries: when each finished, indexes to find them and their attempts, and the
 * narrow cross-org scope of the purge (keyed by its session variable). Also the outbox's retention index.
 */
export class DeliveryRetention extends Migration {
  override name = '0004-delivery-retention';

  override up(): void {
    const finished = `state <> 'PENDING' and ${DELIVERY_FINISHED_AT_SQL} < ${DELIVERY_PURGE_BEFORE_SQL}`;
    const attempted = `deliver_time < ${DELIVERY_PURGE_BEFORE_SQL}`;
    this.addSql(`
      alter table deliveries add column finish_time timestamptz null;
      create index deliveries_finished_idx on deliveries ((${DELIVERY_FINISHED_AT_SQL})) where state <> 'PENDING';
      create index delivery_attempts_delivery_idx on delivery_attempts (delivery_id);
      create policy deliveries_finished_select on deliveries for select using (${finished});
      create policy deliveries_finished_delete on deliveries for delete using (${finished});
      create policy delivery_attempts_finished_select on delivery_attempts for select using (${attempted});
      create policy delivery_attempts_finished_delete on delivery_attempts for delete using (${attempted});
    `);
    this.addSql(OUTBOX_PUBLISHED_INDEX_SQL);
  }
}
