import { Migration } from '@mikro-orm/migrations';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';
import { tenantRowLevelSecuritySql } from '@taskmesh/runtime/row-level-security';
import { ROLLUP_SCAN_SQL } from '../rollup-scope.ts';

/**
 * Every table is a tenant table (filter + RLS) and everything in it can be rebuilt from the event stream
 * (docs/analytics.md). Counters are per org, board and UTC day; task_states and task_history are the read
 * model the counters and the overdue rollup need.
 */
export class InitialAnalyticsSchema extends Migration {
  override name = '0001-initial';

  override up(): void {
    this.addSql(`
      -- The latest known state of each task.
      create table task_states (
        org_id uuid not null,
        task_id uuid not null,
        board_id uuid not null,
        status text not null,
        due_time timestamptz null,
        assignees text[] not null default '{}',
        first_in_progress_at timestamptz null,
        deleted boolean not null default false,
        last_event_at timestamptz null,
        primary key (org_id, task_id)
      );

      -- Each change of a task's status, due time or existence, for "overdue at the end of day D".
      create table task_history (
        id bigserial primary key,
        org_id uuid not null,
        task_id uuid not null,
        board_id uuid not null,
        at timestamptz not null,
        status text not null,
        due_time timestamptz null,
        deleted boolean not null
      );
      create index task_history_org_task_idx on task_history (org_id, task_id, at, id);

      -- Real-time counters, added to in the transaction that marks their events processed.
      create table daily_counters (
        org_id uuid not null,
        board_id uuid not null,
        day date not null,
        tasks_created integer not null default 0,
        tasks_completed integer not null default 0,
        tasks_reopened integer not null default 0,
        tasks_moved integer not null default 0,
        share_link_opens integer not null default 0,
        primary key (org_id, day, board_id)
      );

      -- One row per completion of a task that had been IN_PROGRESS: the input of the percentiles.
      create table cycle_times (
        org_id uuid not null,
        board_id uuid not null,
        task_id uuid not null,
        day date not null,
        seconds double precision not null
      );
      create index cycle_times_org_day_idx on cycle_times (org_id, day, board_id);

      create table assignee_completions (
        org_id uuid not null,
        board_id uuid not null,
        day date not null,
        assignee text not null,
        tasks_completed integer not null,
        primary key (org_id, day, board_id, assignee)
      );

      -- Written by the rollup job for the days that have ended.
      create table daily_overdue (
        org_id uuid not null,
        board_id uuid not null,
        day date not null,
        overdue integer not null,
        primary key (org_id, day, board_id)
      );

      -- Deleted organizations whose figures are purged at due_at (ids and times only: no tenant data, no RLS).
      create table org_purges (
        org_id uuid primary key,
        due_at timestamptz not null
      );

      -- Per org: the last day rolled up, and the earliest day an event changed since (redone next run).
      create table rollup_state (
        org_id uuid primary key,
        rolled_through date null,
        dirty_from date null
      );
    `);
    for (const table of ['task_states', 'task_history', 'daily_counters', 'cycle_times', 'assignee_completions', 'daily_overdue']) {
      this.addSql(tenantRowLevelSecuritySql(table));
    }
    // The rollup job finds the orgs with work across tenants: rollup_state alone is readable (not writable)
    // when its transaction says so; each org's rollup then runs bound to that org.
    this.addSql(tenantRowLevelSecuritySql('rollup_state', { alsoVisibleWhen: ROLLUP_SCAN_SQL }));
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
  }
}
