import { Migration } from '@mikro-orm/migrations';

/** Device tokens for log-in throttling, and the index the ended-session list reads by. */
export class KnownDevices extends Migration {
  override name = '0003-known-devices';

  override up(): void {
    this.addSql(`
      create table known_devices (
        id uuid primary key,
        user_id uuid not null references users (id) on delete cascade,
        token_hash text not null unique,
        created_at timestamptz not null,
        expires_at timestamptz not null
      );
      create index known_devices_user_id_idx on known_devices (user_id);
      create index sessions_revoked_at_idx on sessions (revoked_at) where revoked_at is not null;
    `);
  }
}
