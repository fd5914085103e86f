import { Migration } from '@mikro-orm/migrations';

/** Erased accounts stay as a row without personal data, so their comments and audit entries keep an author. */
export class UserErasure extends Migration {
  override name = '0005-user-erasure';

  override up(): void {
    this.addSql('alter table users add column deleted_at timestamptz null');
  }
}
