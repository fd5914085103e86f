import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { DigestTask, TaskProgress } from '../domain/mails.ts';
import { MailQueue } from './mail-queue.ts';

/** What notify keeps of a task, from the task service's events. */
export interface TaskState {
  /** organizations/{org}/boards/{board}/tasks/{task} */
  name: string;
  organization: string;
  title: string;
  status: TaskProgress;
  assignees: string[];
  dueTime: Date | null;
  archived: boolean;
  /** The task's update_time: a snapshot never replaces a newer one (redeliveries can reorder events). */
  updateTime: Date;
}

/** One task event as the digest records it: a new state, or a deletion (tombstone). */
export type TaskChange =
  | { kind: 'state'; task: TaskState }
  | { kind: 'deleted'; name: string; organization: string; at: Date };

/** A snapshot replaces a stored one only if that is not a tombstone and not newer. */
const SNAPSHOT_UPSERT = `on conflict (name) do update set title = excluded.title, status = excluded.status, assignees = excluded.assignees,
         due_time = excluded.due_time, archived = excluded.archived, update_time = excluded.update_time
       where not task_snapshot.deleted and task_snapshot.update_time <= excluded.update_time`;

function snapshotParams(task: TaskState): unknown[] {
  return [task.name, task.organization, task.title, task.status, `{${task.assignees.map((a) => `"${a.replaceAll('"', '')}"`).join(',')}}`,
    task.dueTime, task.archived, task.updateTime];
}

const HOUR_MS = 3_600_000;

export const UNNAMED_ORGANIZATION = 'your organization';

/**
 * The daily digest: each assignee gets, per organization, the tasks due within the next 24 hours that are
 * not done or archived; none for an organization while it is suspended. Built from task_snapshot, which the task events keep current.
 *
 * Once per day with any number of replicas: whichever replica first inserts that day's digest_run row
 * builds the digest in the same transaction (all mails queued with it, or none), and every mail's dedup key
 * names the day, org and user. No network I/O happens inside; the dispatcher sends afterwards.
 */
export class TaskDigest {
  constructor(
    private readonly em: EntityManager,
    private readonly options: { hourUtc: number; log: Logger },
  ) {}

  static async recordTask(tx: EntityManager, task: TaskState): Promise<void> {
    await tx.execute(
      `insert into task_snapshot (name, organization, title, status, assignees, due_time, archived, update_time)
       values (?, ?, ?, ?, ?::text[], ?, ?, ?)
       ${SNAPSHOT_UPSERT}`,
      snapshotParams(task),
    );
  }

  /**
   * The snapshots of a batch of task events in one statement where that is equivalent to recording them one
   * by one: per task, the state with the newest update_time (the last of equal ones), as the conditional
   * upsert would have kept. A task deleted within the batch has its changes applied one by one, in order.
   */
  static async recordTaskChanges(tx: EntityManager, changes: readonly TaskChange[]): Promise<void> {
    const byTask = new Map<string, TaskChange[]>();
    for (const change of changes) {
      const name = change.kind === 'state' ? change.task.name : change.name;
      const list = byTask.get(name);
      if (list) list.push(change);
      else byTask.set(name, [change]);
    }
    const newest: TaskState[] = [];
    for (const list of byTask.values()) {
      if (list.some((change) => change.kind === 'deleted')) {
        for (const change of list) {
          if (change.kind === 'state') await TaskDigest.recordTask(tx, change.task);
          else await TaskDigest.recordTaskDeleted(tx, change.name, change.organization, change.at);
        }
        continue;
      }
      let kept: TaskState | undefined;
      for (const change of list) {
        if (change.kind === 'state' && (!kept || kept.updateTime.getTime() <= change.task.updateTime.getTime())) kept = change.task;
      }
      if (kept) newest.push(kept);
    }
    if (newest.length === 1) await TaskDigest.recordTask(tx, newest[0]!);
    else if (newest.length > 1) {
      const params: unknown[] = [];
      for (const task of newest) params.push(...snapshotParams(task));
      await tx.execute(
        `insert into task_snapshot (name, organization, title, status, assignees, due_time, archived, update_time)
         values ${newest.map(() => '(?, ?, ?, ?, ?::text[], ?::timestamptz, ?, ?::timestamptz)').join(', ')}
         ${SNAPSHOT_UPSERT}`,
        params,
      );
    }
  }

  /**
   * New task states, each with its event, in ONE statement and round trip (no explicit transaction: one
   * statement is one): the events' processed_events rows, and for the events that were not processed before,
   * per task the newest state, upserted as recordTask does. The same effect as processOnce + recordTask per
   * event in order; for batches made only of such events (no tombstones, no mails).
   */
  static async recordNewTaskStates(em: EntityManager, consumer: string, items: readonly { eventId: string; eventType: string; task: TaskState }[]): Promise<void> {
    if (items.length === 0) return;
    const params: unknown[] = [];
    const rows = items.map((item, ord) => {
      params.push(ord, item.eventId, item.eventType, ...snapshotParams(item.task));
      return '(?::int, ?::uuid, ?::text, ?::text, ?::text, ?::text, ?::text, ?::text[], ?::timestamptz, ?::boolean, ?::timestamptz)';
    });
    await em.fork().execute(
      `with v (ord, event_id, event_type, name, organization, title, status, assignees, due_time, archived, update_time) as (
         values ${rows.join(', ')}
       ), fresh as (
         insert into processed_events (consumer, event_id, event_type)
         select ?, event_id, event_type from v order by event_id
         on conflict do nothing returning event_id
       ), newest as (
         select distinct on (name) name, organization, title, status, assignees, due_time, archived, update_time
         from v where event_id in (select event_id from fresh)
         order by name, update_time desc, ord desc
       )
       insert into task_snapshot (name, organization, title, status, assignees, due_time, archived, update_time)
       select name, organization, title, status, assignees, due_time, archived, update_time from newest
       ${SNAPSHOT_UPSERT}`,
      // The consumer's placeholder comes after the values in the text.
      [...params, consumer],
    );
  }

  /** A tombstone: a late update of a deleted task must not bring it back. */
  static async recordTaskDeleted(tx: EntityManager, name: string, organization: string, at: Date): Promise<void> {
    await tx.execute(
      `insert into task_snapshot (name, organization, title, status, assignees, due_time, archived, deleted, update_time)
       values (?, ?, '', 'done', '{}', null, true, true, ?)
       on conflict (name) do update set deleted = true, update_time = greatest(task_snapshot.update_time, excluded.update_time)`,
      [name, organization, at],
    );
  }

  static async recordOrganizationName(tx: EntityManager, name: string, displayName: string, at: Date): Promise<void> {
    await tx.execute(
      `insert into organization_name (name, display_name, update_time) values (?, ?, ?)
       on conflict (name) do update set display_name = excluded.display_name, update_time = excluded.update_time
       where organization_name.update_time <= excluded.update_time`,
      [name, displayName, at],
    );
  }

  /** A suspended organization's digests pause until it is reactivated (events in order of occurrence win). */
  static async recordSuspension(tx: EntityManager, organization: string, suspended: boolean, at: Date): Promise<void> {
    if (suspended) {
      await tx.execute(
        'insert into suspended_organization (name, update_time) values (?, ?) on conflict (name) do update set update_time = greatest(suspended_organization.update_time, excluded.update_time)',
        [organization, at],
      );
    } else {
      await tx.execute('delete from suspended_organization where name = ? and update_time <= ?', [organization, at]);
    }
  }

  /**
   * Builds today's digest if its hour has come and no replica built it yet. Returns the mails queued, or
   * undefined when there was nothing to do.
   */
  async runDue(now: Date): Promise<number | undefined> {
    const scheduled = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), this.options.hourUtc);
    if (now.getTime() < scheduled) return undefined;
    const day = new Date(scheduled).toISOString().slice(0, 10);
    const windowStart = now;
    const windowEnd = new Date(now.getTime() + 24 * HOUR_MS);
    const queued = await this.em.fork().transactional(async (tx) => {
      const claimed = await tx.execute<{ day: string }[]>(
        'insert into digest_run (day, window_start, window_end, mails) values (?, ?, ?, 0) on conflict (day) do nothing returning day',
        [day, windowStart, windowEnd],
      );
      if (claimed.length === 0) return undefined;
      const rows = await tx.execute<
        { organization: string; assignee: string; name: string; title: string; due_time: Date; status: TaskProgress; org_name: string | null }[]
      >(
        `select s.organization, a.assignee, s.name, s.title, s.due_time, s.status, o.display_name as org_name
         from task_snapshot s
         cross join lateral unnest(s.assignees) as a(assignee)
         left join organization_name o on o.name = s.organization
         where not s.deleted and not s.archived and s.status <> 'done' and s.due_time >= ? and s.due_time < ?
           and s.organization not in (select name from suspended_organization)
         order by s.organization, a.assignee, s.due_time, s.name`,
        [windowStart, windowEnd],
      );
      const digests = new Map<string, { organization: string; assignee: string; orgName: string; tasks: DigestTask[] }>();
      for (const row of rows) {
        const key = `${row.organization} ${row.assignee}`;
        let digest = digests.get(key);
        if (!digest) {
          digest = { organization: row.organization, assignee: row.assignee, orgName: row.org_name ?? UNNAMED_ORGANIZATION, tasks: [] };
          digests.set(key, digest);
        }
        digest.tasks.push({ name: row.name, title: row.title, dueTime: new Date(row.due_time).toISOString(), status: row.status });
      }
      let count = 0;
      for (const digest of digests.values()) {
        const added = await MailQueue.enqueue(tx, {
          dedupKey: `digest:${day}:${digest.organization}:${digest.assignee}`,
          recipient: digest.assignee,
          content: { kind: 'task-digest', organizationName: digest.orgName, day, tasks: digest.tasks },
        });
        if (added) count++;
      }
      await tx.execute('update digest_run set mails = ? where day = ?', [count, day]);
      return count;
    });
    if (queued !== undefined) this.options.log.info({ day, mails: queued }, 'daily digest queued');
    return queued;
  }
}
