// The analytics summary through the REST edge, on the whole stack (real PostgreSQL, JetStream when NATS
// answers): tasks created, completed, reopened and moved, a share link opened, the rollup's overdue count,
// the board filter, range validation, roles and isolation.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { Code, type SummarizeAnalyticsResponse } from '../../../gen/client/index.ts';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { ORG_TABLES } from '../src/db/activity-store.ts';
import { analyticsService } from '../src/descriptor.ts';

const natsUrl = await natsForTests();
const DAY = 86_400_000;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ services: ALL_SERVICES, front: edgeFront, ...(natsUrl ? { natsUrl } : {}) });
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

type User = Awaited<ReturnType<typeof signUpAs>>;

/** An org with an owner, an admin, a member and a viewer, and a board with two lists. */
async function workspace(label: string) {
  const owner = await signUpAs(stack.url, `${label}-owner`);
  const admin = await signUpAs(stack.url, `${label}-admin`);
  const member = await signUpAs(stack.url, `${label}-member`);
  const viewer = await signUpAs(stack.url, `${label}-viewer`);
  const org = (await owner.api.org.createOrganization({ organization: { displayName: `Analytics ${label}` } })).organization!.name;
  for (const [who, role] of [[admin, 'ROLE_ADMIN'], [member, 'ROLE_MEMBER'], [viewer, 'ROLE_VIEWER']] as const) {
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: who.email, role } });
    await who.api.org.acceptInvitation({ token });
  }
  const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'Roadmap' } })).board!.name;
  const todo = (await owner.api.board.createList({ parent: board, list: { displayName: 'Todo' } })).list!.name;
  const done = (await owner.api.board.createList({ parent: board, list: { displayName: 'Done' } })).list!.name;
  return { owner, admin, member, viewer, org, board, todo, done };
}

const today = () => new Date().toISOString().slice(0, 10);

/** Polls the owner's summary of today until `ready` holds (events arrive asynchronously). */
async function summaryWhen(user: User, request: { organization: string; board?: string }, ready: (s: SummarizeAnalyticsResponse) => boolean) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const summary = await user.api.analytics.summarizeAnalytics({ ...request, startTime: `${today()}T00:00:00Z` });
    if (ready(summary) || Date.now() > deadline) return summary;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const seconds = (duration: string | undefined) => (duration === undefined ? undefined : Number.parseFloat(duration));

describe('GET /v1/organizations/{org}/analytics:summary', () => {
  let w: Awaited<ReturnType<typeof workspace>>;
  let other: Awaited<ReturnType<typeof workspace>>;

  beforeAll(async () => {
    w = await workspace('a');
    other = await workspace('b');
    const yesterday = new Date(Date.now() - DAY).toISOString();
    const create = (title: string, extra: object = {}) =>
      w.owner.api.task.createTask({ parent: w.board, task: { list: w.todo, title, priority: 'PRIORITY_MEDIUM', ...extra } });
    const a = (await create('Late one', { dueTime: yesterday, assignees: [w.owner.user, w.admin.user] })).task!.name;
    const b = (await create('Quick one', { assignees: [w.admin.user] })).task!.name;
    await create('Untouched');
    const status = (name: string, value: 'TASK_STATUS_IN_PROGRESS' | 'TASK_STATUS_DONE' | 'TASK_STATUS_TODO') =>
      w.owner.api.task.updateTask({ task: { name, status: value }, updateMask: 'status' });
    // a: started, done, reopened (still overdue); b: started, done, moved to Done.
    await status(a, 'TASK_STATUS_IN_PROGRESS');
    await status(a, 'TASK_STATUS_DONE');
    await status(a, 'TASK_STATUS_IN_PROGRESS');
    await status(b, 'TASK_STATUS_IN_PROGRESS');
    await status(b, 'TASK_STATUS_DONE');
    await w.owner.api.task.moveTask({ name: b, list: w.done });
    const link = await w.owner.api.share.createShareLink({ parent: a, shareLink: {} });
    const code = link.url.slice(link.url.lastIndexOf('/') + 1);
    expect((await fetch(`${stack.url}/v1/shared/${code}`)).status).toBe(200);
    // Activity in the other org must not show in this one.
    await other.owner.api.task.createTask({ parent: other.board, task: { list: other.todo, title: 'Theirs', priority: 'PRIORITY_LOW' } });
  }, 120_000);

  it('counts created, completed, reopened, moved and share-link opens by day, with cycle time and assignees', async () => {
    const summary = await summaryWhen(w.owner, { organization: w.org }, (s) => s.totals?.shareLinkOpens === 1 && s.totals.tasksMoved === 1);
    expect(summary.days).toHaveLength(1);
    const expected = { tasksCreated: 3, tasksCompleted: 2, tasksReopened: 1, tasksMoved: 1, shareLinkOpens: 1, overdue: 0 };
    expect(summary.days![0]).toMatchObject({ date: today(), ...expected });
    expect(summary.totals).toMatchObject(expected);
    expect(summary.cycleTime!.completions).toBe(2);
    expect(seconds(summary.cycleTime!.p50)).toBeGreaterThan(0);
    expect(seconds(summary.cycleTime!.p90)).toBeGreaterThanOrEqual(seconds(summary.cycleTime!.p50)!);
    // a was completed with both assignees, b with the admin.
    expect(summary.assignees).toEqual([
      { assignee: w.admin.user, tasksCompleted: 2 },
      { assignee: w.owner.user, tasksCompleted: 1 },
    ]);
  });

  it('an admin may read it; a member and a viewer get 403; another org\'s owner 404', async () => {
    const summary = await w.admin.api.analytics.summarizeAnalytics({ organization: w.org });
    expect(summary.days).toHaveLength(30);
    for (const who of [w.member, w.viewer]) {
      const err = await apiError(who.api.analytics.summarizeAnalytics({ organization: w.org }));
      expect([err.httpStatus, err.code]).toEqual([403, Code.PERMISSION_DENIED]);
    }
    const err = await apiError(other.owner.api.analytics.summarizeAnalytics({ organization: w.org }));
    expect([err.httpStatus, err.code]).toEqual([404, Code.NOT_FOUND]);
    const theirs = await other.owner.api.analytics.summarizeAnalytics({ organization: other.org, startTime: `${today()}T00:00:00Z` });
    expect(theirs.totals).toMatchObject({ tasksCompleted: 0, shareLinkOpens: 0 });
  });

  it('narrows to one board by name or id; another org\'s board is INVALID_ARGUMENT', async () => {
    const byName = await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, board: w.board, startTime: `${today()}T00:00:00Z` });
    expect(byName.totals).toMatchObject({ tasksCreated: 3, tasksCompleted: 2 });
    const boardId = w.board.slice(w.board.lastIndexOf('/') + 1);
    const byId = await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, board: boardId, startTime: `${today()}T00:00:00Z` });
    expect(byId.totals).toEqual(byName.totals);
    const empty = await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, board: `${w.org}/boards/00000000-0000-4000-8000-000000000000` });
    expect(empty.totals).toMatchObject({ tasksCreated: 0, tasksCompleted: 0 });
    expect(empty.cycleTime!.p50).toBeUndefined();
    const err = await apiError(w.owner.api.analytics.summarizeAnalytics({ organization: w.org, board: other.board }));
    expect([err.httpStatus, err.code]).toEqual([400, Code.INVALID_ARGUMENT]);
  });

  it('refuses an end before the start and a span over 366 days', async () => {
    const backwards = await apiError(
      w.owner.api.analytics.summarizeAnalytics({ organization: w.org, startTime: '2026-03-02T00:00:00Z', endTime: '2026-03-01T00:00:00Z' }),
    );
    expect([backwards.httpStatus, backwards.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    const long = await apiError(
      w.owner.api.analytics.summarizeAnalytics({ organization: w.org, startTime: '2024-01-01T00:00:00Z', endTime: '2026-01-01T00:00:00Z' }),
    );
    expect([long.httpStatus, long.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    expect(long.message).toContain('366');
  });

  it('the rollup counts the task overdue at the end of the day (due yesterday, reopened, not DONE)', async () => {
    // As the job would run once today has ended.
    await stack.get(analyticsService).rollup.runDue(new Date(Date.now() + DAY));
    const summary = await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, startTime: `${today()}T00:00:00Z` });
    expect(summary.days![0]!.overdue).toBe(1);
    // Redoing it changes nothing, nor do two replicas running it at once.
    const later = new Date(Date.now() + DAY);
    const rollup = stack.get(analyticsService).rollup;
    await Promise.all([rollup.runDue(later), rollup.runDue(later)]);
    expect((await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, startTime: `${today()}T00:00:00Z` })).totals!.overdue).toBe(1);
  });

  it('purges a deleted organization\'s figures once its retention has passed', async () => {
    const orgId = other.org.slice('organizations/'.length);
    // Read as the database owner (RLS does not bind it), to see every row of every org.
    const admin = new pg.Client({ connectionString: stack.db.databaseUrl });
    await admin.connect();
    try {
      const rowsOf = async () => {
        let rows = 0;
        for (const table of ORG_TABLES) rows += Number((await admin.query(`select count(*) as n from analytics.${table} where org_id = $1`, [orgId])).rows[0].n);
        return rows;
      };
      const scheduled = async () => (await admin.query('select due_at from analytics.org_purges where org_id = $1', [orgId])).rows[0]?.due_at as Date | undefined;
      expect(await rowsOf()).toBeGreaterThan(0);
      await other.owner.api.org.deleteOrganization({ name: other.org });
      const deadline = Date.now() + 60_000;
      while (!(await scheduled()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      const dueAt = await scheduled();
      expect(dueAt!.getTime()).toBeGreaterThan(Date.now() + 29 * DAY);
      const rollup = stack.get(analyticsService).rollup;
      expect(await rollup.purgeDeletedOrgs()).toBe(0);
      expect(await rollup.purgeDeletedOrgs(new Date(dueAt!.getTime() + 1))).toBe(1);
      expect(await rowsOf()).toBe(0);
      expect(await scheduled()).toBeUndefined();
      // The other org's figures are untouched.
      const ours = await w.owner.api.analytics.summarizeAnalytics({ organization: w.org, startTime: `${today()}T00:00:00Z` });
      expect(ours.totals!.tasksCreated).toBe(3);
    } finally {
      await admin.end();
    }
  });
});
