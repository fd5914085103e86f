import { Migration } from '@mikro-orm/migrations';
import { SECRET_ERASE_BEFORE_SQL } from '../retention-scope.ts';

/**
 * Signing-secret rotation: the replaced secret (sealed like the current one) and until when it still signs
 * (never a secret without its end); and the narrow cross-org scope of the retention job that erases expired
 * ones, keyed by its session variable: it sees endpoints whose grace period ended before it, and may only
 * write them with the secret gone and the end unchanged past (the end stays: PostgreSQL checks the updated
 * row against the select policy too, and it says nothing secret).
 */
export class SecretRotation extends Migration {
  override name = '0005-secret-rotation';

  override up(): void {
    const expired = `previous_secret_expire_time < ${SECRET_ERASE_BEFORE_SQL}`;
    this.addSql(`
      alter table webhooks
        add column previous_secret_sealed text null,
        add column previous_secret_expire_time timestamptz null,
        add constraint webhooks_previous_secret_expiry
          check (previous_secret_sealed is null or previous_secret_expire_time is not null);
      create index webhooks_previous_secret_expiry_idx on webhooks (previous_secret_expire_time)
        where previous_secret_sealed is not null;
      create policy webhooks_expired_secret_select on webhooks for select using (${expired});
      create policy webhooks_expired_secret_update on webhooks for update using (${expired})
        with check (previous_secret_sealed is null and ${expired});
    `);
  }
}
