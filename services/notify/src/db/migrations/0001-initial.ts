import { Migration } from '@mikro-orm/migrations';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';

export class InitialNotifySchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
    this.addSql(`
      -- Mail to send. Event handlers only insert here (inside their idempotent transaction); a dispatcher
      -- sends outside any transaction. dedup_key makes every mail at most one row: one per event and
      -- recipient, one welcome per user, one digest per user, org and day.
      create table outgoing_mail (
        id uuid primary key,
        dedup_key text not null unique,
        kind text not null,
        recipient text not null,
        to_address text null,
        data jsonb not null,
        created_at timestamptz not null default now(),
        next_attempt_at timestamptz not null default now(),
        lease_until timestamptz null,
        attempts integer not null default 0,
        sent_at timestamptz null,
        failed_at timestamptz null,
        last_error text null
      );
      create index outgoing_mail_pending_idx on outgoing_mail (next_attempt_at) where sent_at is null and failed_at is null;

      -- What the digest needs of each task, kept from the task service's events (notify owns no task data).
      create table task_snapshot (
        name text primary key,
        organization text not null,
        title text not null,
        status text not null,
        assignees text[] not null,
        due_time timestamptz null,
        archived boolean not null,
        deleted boolean not null default false,
        update_time timestamptz not null
      );
      create index task_snapshot_due_idx on task_snapshot (due_time) where not deleted and due_time is not null;

      -- Organization display names, from the org service's events, to name the org in mails.
      create table organization_name (
        name text primary key,
        display_name text not null,
        update_time timestamptz not null
      );

      -- One row per digest day: the replica that inserts it builds that day's digest in the same transaction.
      create table digest_run (
        day date primary key,
        window_start timestamptz not null,
        window_end timestamptz not null,
        mails integer not null,
        ran_at timestamptz not null default now()
      );
    `);
  }
}
