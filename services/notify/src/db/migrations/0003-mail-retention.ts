import { Migration } from '@mikro-orm/migrations';

/** The index by which the retention purge finds mail that was sent or given up. */
export class MailRetention extends Migration {
  override name = '0003-mail-retention';

  override up(): void {
    this.addSql(`
      create index outgoing_mail_finished_idx on outgoing_mail ((coalesce(sent_at, failed_at)))
        where sent_at is not null or failed_at is not null;
    `);
  }
}
