import { Migration } from '@mikro-orm/migrations';

/** Platform administrators granted with `npm run admin:grant` (issue 15 §1), by normalized e-mail address. */
export class PlatformAdmins extends Migration {
  override name = '0006-platform-admins';

  override up(): void {
    this.addSql(`
      create table platform_admins (
        email_normalized text primary key,
        granted_at timestamptz not null
      );
    `);
  }
}
