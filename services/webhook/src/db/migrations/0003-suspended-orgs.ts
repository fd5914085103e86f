import { Migration } from '@mikro-orm/migrations';

/**
 * Organizations a platform administrator suspended (issue 15 §1): their deliveries stay pending, unclaimed,
 * until reactivation. Like delivery_due, the worker's cross-org schedule: ids only, no tenant data, no RLS.
 */
export class SuspendedOrgs extends Migration {
  override name = '0003-suspended-orgs';

  override up(): void {
    this.addSql(`
      create table suspended_orgs (
        org_id uuid primary key,
        update_time timestamptz not null
      );
    `);
  }
}
