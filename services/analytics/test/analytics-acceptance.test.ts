// Issue 15's acceptance test: 10,000 generated event deliveries (tasks over several days, boards and assignees,
// share-link opens, another org's events, and redeliveries of the same event ids) published to real JetStream;
// once the service has consumed them, its summary through REST equals a direct SQL count over the generated
// events themselves (loaded into a scratch table, never read from the service's tables).
import { randomUUID } from 'node:crypto';
import { headers } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShareLinkOpened } from '@taskmesh/gen/taskmesh/share/v1/events.js';
import { TaskCreated, TaskDeleted, TaskMoved, TaskStatusChanged, TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { Priority, Task, TaskStatus } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { identityService } from '@taskmesh/identity/descriptor';
import { orgService } from '@taskmesh/org/descriptor';
import { EVENT_TYPE_HEADER, encodeEnvelope, subjectFor, type EventEnvelope } from '@taskmesh/runtime/events/envelope';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import type { SummarizeAnalyticsResponse } from '../../../gen/client/index.ts';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { edgeFront } from '../../embedded/src/services.ts';
import { analyticsService } from '../src/descriptor.ts';

const natsUrl = await natsForTests();
const DAY = 86_400_000;
const DELIVERIES = 10_000;
const subjectPrefix = uniqueStreamSettings().subjectPrefix;

type Status = 'TODO' | 'IN_PROGRESS' | 'DONE';
type Kind = 'created' | 'updated' | 'moved' | 'statusChanged' | 'deleted' | 'shareLinkOpened';

/** One generated event, as the scratch table holds it. */
interface Generated {
  id: string;
  kind: Kind;
  orgId: string;
  boardId: string;
  taskId: string;
  at: Date;
  status: Status | null;
  oldStatus: Status | null;
  newStatus: Status | null;
  dueTime: Date | null;
  assignees: string[] | null;
}

/** mulberry32: a small seeded generator, so a failure can be reproduced. */
function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]! };
}

const PROTO_STATUS: Record<Status, TaskStatus> = {
  TODO: TaskStatus.TASK_STATUS_TODO,
  IN_PROGRESS: TaskStatus.TASK_STATUS_IN_PROGRESS,
  DONE: TaskStatus.TASK_STATUS_DONE,
};
const NEXT: Record<Status, Status[]> = { TODO: ['IN_PROGRESS'], IN_PROGRESS: ['DONE', 'TODO'], DONE: ['IN_PROGRESS'] };

/**
 * Tasks of two orgs living over `days` days: created, then changed by status moves (TaskUpdated + TaskStatusChanged
 * at the same instant, as the task service writes them), due-date and assignee updates, moves, share-link opens
 * and sometimes a deletion; all in time order, until `count` events exist.
 */
function generate(orgIds: readonly string[], windowStart: number, windowEnd: number, count: number, seed: number): Generated[] {
  const rnd = random(seed);
  const boards = orgIds.map(() => Array.from({ length: 4 }, () => randomUUID()));
  const users = Array.from({ length: 6 }, () => `users/${randomUUID()}`);
  const lives: Generated[][] = [];
  let total = 0;
  while (total < count) {
    const org = rnd.int(10) === 0 ? 1 : 0;
    const orgId = orgIds[org]!;
    const boardId = rnd.pick(boards[org]!);
    const taskId = randomUUID();
    let at = windowStart + rnd.int(windowEnd - windowStart);
    let status: Status = 'TODO';
    let dueTime: Date | null = rnd.int(3) === 0 ? null : new Date(at + (rnd.int(6 * 24) - 24) * 3_600_000);
    let assignees = users.filter(() => rnd.int(4) === 0).slice(0, 3);
    const base = { orgId, boardId, taskId, oldStatus: null, newStatus: null } as const;
    const snapshot = (kind: 'created' | 'updated' | 'moved'): Generated => ({ ...base, id: randomUUID(), kind, at: new Date(at), status, dueTime, assignees: [...assignees] });
    const life: Generated[] = [snapshot('created')];
    for (let step = rnd.int(10); step > 0; step--) {
      at += 300_000 + rnd.int(18 * 3_600_000);
      if (at >= windowEnd) break;
      const action = rnd.int(100);
      if (action < 45) {
        const old = status;
        status = rnd.pick(NEXT[status]);
        life.push(snapshot('updated'));
        life.push({ ...base, id: randomUUID(), kind: 'statusChanged', at: new Date(at), status: null, oldStatus: old, newStatus: status, dueTime: null, assignees: null });
      } else if (action < 60) {
        dueTime = rnd.int(4) === 0 ? null : new Date(at + (rnd.int(4 * 24) - 24) * 3_600_000);
        assignees = users.filter(() => rnd.int(3) === 0).slice(0, 3);
        life.push(snapshot('updated'));
      } else if (action < 78) {
        life.push(snapshot('moved'));
      } else if (action < 96) {
        life.push({ ...base, id: randomUUID(), kind: 'shareLinkOpened', at: new Date(at), status: null, oldStatus: null, newStatus: null, dueTime: null, assignees: null });
      } else {
        life.push({ ...base, id: randomUUID(), kind: 'deleted', at: new Date(at), status: null, oldStatus: null, newStatus: null, dueTime: null, assignees: null });
        break;
      }
    }
    lives.push(life);
    total += life.length;
  }
  // Time order across tasks; within a task (same instants included) the order of its life.
  return lives
    .flatMap((life, t) => life.map((event, i) => ({ event, t, i })))
    .sort((a, b) => a.event.at.getTime() - b.event.at.getTime() || a.t - b.t || a.i - b.i)
    .map((x) => x.event);
}

const taskName = (e: Generated) => `organizations/${e.orgId}/boards/${e.boardId}/tasks/${e.taskId}`;

function taskOf(e: Generated): Task {
  return Task.fromPartial({
    name: taskName(e),
    list: `organizations/${e.orgId}/boards/${e.boardId}/lists/${randomUUID()}`,
    title: 'Generated',
    status: PROTO_STATUS[e.status!],
    priority: Priority.PRIORITY_MEDIUM,
    assignees: e.assignees!,
    ...(e.dueTime ? { dueTime: e.dueTime } : {}),
  });
}

/** The event envelope the task or share service would have published. */
function envelopeOf(e: Generated): EventEnvelope {
  const envelope = (type: string, payload: Uint8Array): EventEnvelope => ({
    id: e.id,
    type,
    organization: `organizations/${e.orgId}`,
    actor: 'users/00000000-0000-4000-8000-000000000001',
    resource: taskName(e),
    occurTime: e.at,
    payload,
  });
  switch (e.kind) {
    case 'created':
      return envelope('taskmesh.task.v1.TaskCreated', TaskCreated.encode({ task: taskOf(e) }).finish());
    case 'updated':
      return envelope('taskmesh.task.v1.TaskUpdated', TaskUpdated.encode({ task: taskOf(e), changes: [] }).finish());
    case 'moved':
      return envelope('taskmesh.task.v1.TaskMoved', TaskMoved.encode(TaskMoved.fromPartial({ task: taskOf(e) })).finish());
    case 'statusChanged':
      return envelope(
        'taskmesh.task.v1.TaskStatusChanged',
        TaskStatusChanged.encode({ task: taskName(e), oldStatus: PROTO_STATUS[e.oldStatus!], newStatus: PROTO_STATUS[e.newStatus!] }).finish(),
      );
    case 'deleted':
      return envelope('taskmesh.task.v1.TaskDeleted', TaskDeleted.encode({ task: taskName(e), list: '', title: 'Generated' }).finish());
    case 'shareLinkOpened':
      return envelope(
        'taskmesh.share.v1.ShareLinkOpened',
        ShareLinkOpened.encode({ shareLink: `${taskName(e)}/shareLinks/${randomUUID()}`, task: taskName(e), openCount: 1 }).finish(),
      );
  }
}

let stack: TestStack;
let sql: pg.Client;

beforeAll(async () => {
  if (!natsUrl) return;
  stack = await startTestStack({
    services: [identityService, orgService, analyticsService],
    front: edgeFront,
    natsUrl,
    overrides: { EVENTS_SUBJECT_PREFIX: subjectPrefix },
  });
  sql = new pg.Client({ connectionString: stack.db.databaseUrl });
  await sql.connect();
}, 180_000);

afterAll(async () => {
  await sql?.end();
  await stack?.close();
});

describe.skipIf(!natsUrl)('analytics over 10,000 generated event deliveries', () => {
  it('equals a direct SQL count over the same events, each counted once', async () => {
    const owner = await signUpAs(stack.url, 'acceptance-owner');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Acceptance' } })).organization!.name;
    const orgId = org.slice('organizations/'.length);
    const otherOrgId = randomUUID();

    // Days D-9 … D-2 (D = today, UTC): every one of them has ended, so the rollup counts its overdue tasks.
    const todayStart = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    const windowStart = todayStart - 9 * DAY;
    const windowEnd = todayStart - DAY;
    const unique = generate([orgId, otherOrgId], windowStart, windowEnd, 9_400, 15);
    // Redeliveries: some right behind the original (same batch), the rest after everything else.
    const rnd = random(42);
    const deliveries: Generated[] = [];
    const late: Generated[] = [];
    for (const event of unique) {
      deliveries.push(event);
      if (rnd.int(40) === 0) deliveries.push(event);
    }
    while (deliveries.length + late.length < DELIVERIES) late.push(unique[rnd.int(unique.length)]!);
    deliveries.push(...late);
    expect(deliveries.length).toBe(DELIVERIES);
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(unique.length);

    // Every delivery gets its own Nats-Msg-Id, so JetStream keeps the copies (as it does for an outbox row
    // republished after the duplicate window) and the service must recognise them itself.
    const nc = await connect({ servers: natsUrl! });
    try {
      const js = jetstream(nc);
      for (let from = 0; from < deliveries.length; from += 500) {
        // Sent in order on one connection: the stream stores them in that order.
        await Promise.all(
          deliveries.slice(from, from + 500).map((event, i) => {
            const envelope = envelopeOf(event);
            const h = headers();
            h.set(EVENT_TYPE_HEADER, envelope.type);
            return js.publish(subjectFor(subjectPrefix, envelope), encodeEnvelope(envelope), { msgID: `${event.id}-${from + i}`, headers: h });
          }),
        );
      }
    } finally {
      await nc.close();
    }

    // Consumed: every distinct event recorded as processed (and no more: a copy is never a second event).
    const processed = async () =>
      Number((await sql.query(`select count(*) as n from analytics.processed_events where consumer = 'analytics'`)).rows[0].n);
    const deadline = Date.now() + 240_000;
    while ((await processed()) < unique.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    expect(await processed()).toBe(unique.length);
    expect(stack.get(analyticsService).subscription.stats().deadLettered).toBe(0);
    // The late copies sit behind everything else: wait until the consumer has nothing left.
    await waitUntilDrained(deadline);

    // The rollup as the scheduled job runs it today (idempotent: a replica may have run it already).
    await stack.get(analyticsService).rollup.runDue();

    // The expected figures: plain SQL over the generated deliveries, duplicates removed by event id.
    await loadScratchTable(deliveries);
    const firstDay = new Date(windowStart - DAY).toISOString().slice(0, 10);
    const lastDay = new Date(windowEnd).toISOString().slice(0, 10);
    const boardId = unique.find((e) => e.orgId === orgId)!.boardId;
    for (const board of [null, boardId]) {
      const expected = await expectedSummary(orgId, board, firstDay, lastDay);
      const actual = await owner.api.analytics.summarizeAnalytics({
        organization: org,
        ...(board ? { board: `${org}/boards/${board}` } : {}),
        startTime: `${firstDay}T00:00:00Z`,
        endTime: `${lastDay}T23:59:59Z`,
      });
      expect(actual.days).toEqual(expected.days);
      expect(actual.totals).toEqual(expected.totals);
      expect(actual.assignees).toEqual(expected.assignees);
      expect(actual.cycleTime!.completions).toBe(expected.completions);
      expect(Math.abs(seconds(actual.cycleTime!.p50) - expected.p50)).toBeLessThanOrEqual(0.001);
      expect(Math.abs(seconds(actual.cycleTime!.p90) - expected.p90)).toBeLessThanOrEqual(0.001);
      // Not vacuous: the generated events exercise every counter.
      for (const field of ['tasksCreated', 'tasksCompleted', 'tasksReopened', 'tasksMoved', 'overdue', 'shareLinkOpens'] as const) {
        expect(expected.totals[field], field).toBeGreaterThan(0);
      }
    }
  }, 600_000);
});

const seconds = (duration: string | undefined) => Number.parseFloat(duration ?? 'NaN');

/** Waits until the durable consumer of the analytics service has no message pending or unacknowledged. */
async function waitUntilDrained(deadline: number): Promise<void> {
  const nc = await connect({ servers: natsUrl! });
  try {
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const jsm = await jetstreamManager(nc);
    for (;;) {
      const consumers = await jsm.consumers.list(stack.eventStream!).next();
      const analytics = consumers.find((c) => c.name.includes('analytics'));
      if (analytics && analytics.num_pending === 0 && analytics.num_ack_pending === 0) return;
      if (Date.now() > deadline) throw new Error('the analytics consumer did not drain');
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await nc.close();
  }
}

async function loadScratchTable(deliveries: readonly Generated[]): Promise<void> {
  await sql.query(`
    create temp table deliveries (
      seq int, id uuid, kind text, org_id uuid, board_id uuid, task_id uuid, at timestamptz,
      status text, old_status text, new_status text, due_time timestamptz, assignees text[]
    )`);
  for (let from = 0; from < deliveries.length; from += 2_000) {
    const rows = deliveries.slice(from, from + 2_000).map((e, i) => ({
      seq: from + i,
      id: e.id,
      kind: e.kind,
      org_id: e.orgId,
      board_id: e.boardId,
      task_id: e.taskId,
      at: e.at.toISOString(),
      status: e.status,
      old_status: e.oldStatus,
      new_status: e.newStatus,
      due_time: e.dueTime?.toISOString() ?? null,
      assignees: e.assignees,
    }));
    await sql.query(
      `insert into deliveries select x.seq, x.id, x.kind, x.org_id, x.board_id, x.task_id, x.at, x.status, x.old_status, x.new_status, x.due_time,
         case when x.assignees is null then null else array(select jsonb_array_elements_text(x.assignees)) end
       from jsonb_to_recordset($1::jsonb) as x(seq int, id uuid, kind text, org_id uuid, board_id uuid, task_id uuid, at timestamptz,
         status text, old_status text, new_status text, due_time timestamptz, assignees jsonb)`,
      [JSON.stringify(rows)],
    );
  }
  // Each event once, at its first delivery.
  await sql.query(`create temp table ev as select distinct on (id) * from deliveries order by id, seq`);
  await sql.query(`create index on ev (task_id, at, seq)`);
  await sql.query(`analyze ev`);
}

interface Expected {
  days: NonNullable<SummarizeAnalyticsResponse['days']>;
  totals: NonNullable<SummarizeAnalyticsResponse['totals']>;
  assignees: NonNullable<SummarizeAnalyticsResponse['assignees']>;
  completions: number;
  p50: number;
  p90: number;
}

async function expectedSummary(orgId: string, board: string | null, firstDay: string, lastDay: string): Promise<Expected> {
  const scope = `org_id = $1 and ($2::uuid is null or board_id = $2::uuid)`;
  const params = [orgId, board, firstDay, lastDay];
  const counts = await sql.query(
    `select to_char(d, 'YYYY-MM-DD') as day,
       count(e.id) filter (where kind = 'created')::int as created,
       count(e.id) filter (where kind = 'statusChanged' and new_status = 'DONE' and old_status <> 'DONE')::int as completed,
       count(e.id) filter (where kind = 'statusChanged' and old_status = 'DONE' and new_status <> 'DONE')::int as reopened,
       count(e.id) filter (where kind = 'moved')::int as moved,
       count(e.id) filter (where kind = 'shareLinkOpened')::int as opens
     from generate_series($3::date::timestamp, $4::date::timestamp, interval '1 day') as d
     left join ev e on ${scope} and (e.at at time zone 'UTC')::date = d::date
     group by d order by d`,
    params,
  );
  // Overdue at the end of day d: the task's last status and last due time before d's end; not deleted by then.
  const overdue = await sql.query(
    `with days as (select d::date as day, (d::date + 1)::timestamp at time zone 'UTC' as day_end
                   from generate_series($3::date::timestamp, $4::date::timestamp, interval '1 day') as d),
          tasks as (select distinct task_id from ev where ${scope}),
          states as (
            select days.day, days.day_end,
              (select coalesce(s.new_status, s.status) from ev s where s.task_id = t.task_id and s.kind <> 'shareLinkOpened'
                 and s.kind <> 'deleted' and s.at < days.day_end order by s.at desc, s.seq desc limit 1) as status,
              (select s.due_time from ev s where s.task_id = t.task_id and s.kind in ('created', 'updated', 'moved')
                 and s.at < days.day_end order by s.at desc, s.seq desc limit 1) as due_time,
              exists (select 1 from ev s where s.task_id = t.task_id and s.kind = 'deleted' and s.at < days.day_end) as deleted
            from days cross join tasks t)
     select to_char(day, 'YYYY-MM-DD') as day, count(*)::int as overdue from states
     where status is not null and status <> 'DONE' and not deleted and due_time < day_end group by day`,
    params,
  );
  const completions = `select d.* from ev d where ${scope} and kind = 'statusChanged' and new_status = 'DONE' and old_status <> 'DONE'
                       and (d.at at time zone 'UTC')::date between $3::date and $4::date`;
  const cycle = await sql.query(
    `with c as (
       select extract(epoch from d.at - (select min(s.at) from ev s where s.task_id = d.task_id and s.kind = 'statusChanged'
                                          and s.new_status = 'IN_PROGRESS')) as secs
       from (${completions}) d)
     select count(secs)::int as n, percentile_cont(0.5) within group (order by secs) as p50,
       percentile_cont(0.9) within group (order by secs) as p90 from c where secs is not null`,
    params,
  );
  // Assignees of a completion: those of the task's last snapshot before it in the stream.
  const assignees = await sql.query(
    `select a.assignee, count(*)::int as n from (${completions}) d
     cross join lateral (select s.assignees from ev s where s.task_id = d.task_id and s.kind in ('created', 'updated', 'moved')
                         and s.seq < d.seq order by s.seq desc limit 1) snap
     cross join lateral unnest(snap.assignees) as a(assignee)
     group by a.assignee order by n desc, a.assignee`,
    params,
  );
  const overdueByDay = new Map(overdue.rows.map((r) => [r.day as string, r.overdue as number]));
  const days = counts.rows.map((r) => ({
    date: r.day as string,
    tasksCreated: r.created as number,
    tasksCompleted: r.completed as number,
    tasksReopened: r.reopened as number,
    tasksMoved: r.moved as number,
    overdue: overdueByDay.get(r.day) ?? 0,
    shareLinkOpens: r.opens as number,
  }));
  const totals = { date: '', tasksCreated: 0, tasksCompleted: 0, tasksReopened: 0, tasksMoved: 0, overdue: 0, shareLinkOpens: 0 };
  for (const day of days) {
    for (const field of ['tasksCreated', 'tasksCompleted', 'tasksReopened', 'tasksMoved', 'overdue', 'shareLinkOpens'] as const) totals[field] += day[field];
  }
  const c = cycle.rows[0];
  return {
    days,
    totals,
    assignees: assignees.rows.map((r) => ({ assignee: r.assignee as string, tasksCompleted: r.n as number })),
    completions: c.n as number,
    p50: Number(c.p50),
    p90: Number(c.p90),
  };
}
