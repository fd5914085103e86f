import { Migration } from '@mikro-orm/migrations';

/** Organizations a platform administrator suspended (issue 15 §1): their digests pause until reactivation. */
export class SuspendedOrganizations extends Migration {
  override name = '0002-suspended-organizations';

  override up(): void {
    this.addSql(`
      create table suspended_organization (
        name text primary key,
        update_time timestamptz not null
      );
    `);
  }
}
