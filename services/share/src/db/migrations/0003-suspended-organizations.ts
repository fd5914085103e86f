import { Migration } from '@mikro-orm/migrations';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';

/** Organizations a platform administrator suspended (issue 15 §1): their share links do not open meanwhile. */
export class SuspendedOrganizations extends Migration {
  override name = '0003-suspended-organizations';

  override up(): void {
    this.addSql(`
      create table suspended_organizations (
        org_id uuid primary key,
        suspended_at timestamptz not null default now()
      );
    `);
    this.addSql(tenantRowLevelSecuritySql('suspended_organizations'));
  }
}
