import { Migration } from '@mikro-orm/migrations';
import { OUTBOX_TABLE_SQL } from '@taskmesh/runtime/outbox';

export class InitialIdentitySchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      create table users (
        id uuid primary key,
        email text not null,
        email_normalized text not null unique,
        display_name text not null,
        password_hash text not null,
        created_at timestamptz not null,
        updated_at timestamptz not null
      );
      create table sessions (
        id uuid primary key,
        user_id uuid not null references users (id) on delete cascade,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        revoked_at timestamptz null,
        revoke_reason text null
      );
      create index sessions_user_id_idx on sessions (user_id);
      create table refresh_tokens (
        id uuid primary key,
        session_id uuid not null references sessions (id) on delete cascade,
        token_hash text not null unique,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        spent_at timestamptz null
      );
      create index refresh_tokens_session_id_idx on refresh_tokens (session_id);
      create table password_resets (
        id uuid primary key,
        user_id uuid not null references users (id) on delete cascade,
        token_hash text not null unique,
        created_at timestamptz not null,
        expires_at timestamptz not null,
        used_at timestamptz null
      );
      create index password_resets_user_id_idx on password_resets (user_id);
      create table signing_keys (
        kid text primary key,
        private_jwk jsonb not null,
        public_jwk jsonb not null,
        created_at timestamptz not null,
        superseded_at timestamptz null
      );
      -- Log-in throttling counters (rate-limiter-flexible's table layout), shared by every replica.
      create table login_limits (
        key varchar(255) primary key,
        points integer not null default 0,
        expire bigint
      );
    `);
    this.addSql(OUTBOX_TABLE_SQL);
  }
}

