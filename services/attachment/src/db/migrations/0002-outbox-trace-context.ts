import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TRACE_CONTEXT_SQL } from '@taskmesh/runtime/outbox';

/** The outbox's trace-context column (the runtime's DDL, shared by every producing service). */
export class OutboxTraceContext extends Migration {
  override name = '0002-outbox-trace-context';

  override up(): void {
    this.addSql(OUTBOX_TRACE_CONTEXT_SQL);
  }
}
