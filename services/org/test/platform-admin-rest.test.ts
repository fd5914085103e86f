// Platform administration over REST through the edge, on the whole stack with events on a real JetStream:
// who is an administrator (PLATFORM_ADMIN_EMAILS, npm run admin:grant/revoke), the organization list with
// counts, suspension (ORG_SUSPENDED on every service, OWNERs keep their reads), plans, both audit logs, and
// the dead letters (list, replay, replay all) shared with `npm run dlq`.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, Code, createClient, type TaskmeshClient } from '../../../gen/client/index.ts';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { PermanentEventError, type RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { runPlatformAdminCommand } from '../../identity/src/platform-admin-main.ts';
import { notifyService } from '../../notify/src/descriptor.ts';
import { webhookService } from '../../webhook/src/descriptor.ts';
import { eventually } from '../../runtime/test/events/event-test-database.ts';
import { AdminDeadLetters } from '../src/admin-dead-letters.ts';

const natsUrl = await natsForTests();
const root = join(import.meta.dirname, '..', '..', '..');
const ADMIN_EMAIL = `platform-admin-${process.pid}-${Date.now()}@example.com`;

let stack: TestStack;
// A webhook receiver: what the org's endpoint was sent, by event type.
let receiver: Server;
const received: string[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      received.push((JSON.parse(body) as { type: string }).type);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverPort = (receiver.address() as { port: number }).port;
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: {
      PLATFORM_ADMIN_EMAILS: `someone-else@example.com, ${ADMIN_EMAIL.toUpperCase()}`,
      PLATFORM_ADMIN_CACHE_TTL_MS: '0',
      // Services cache memberships as in production, so suspension has to arrive through the eviction events.
      MEMBERSHIP_CACHE_TTL_MS: '30000',
      WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiverPort}`,
      WEBHOOK_POLL_MS: '100',
    },
  });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

type Caller = Awaited<ReturnType<typeof signUpAs>>;

async function signUpWith(email: string): Promise<Caller> {
  const res = await createClient({ baseUrl: stack.url }).identity.signUp({ email, password: 'correct horse battery', displayName: 'Admin' });
  return { api: createClient({ baseUrl: stack.url, token: res.accessToken }), token: res.accessToken, email, user: res.user!.name };
}

const reasonOf = (err: ApiError) => err.findDetail('google.rpc.ErrorInfo')?.['reason'];

/** Status, code and ErrorInfo reason of a failed call. */
async function refusal(promise: Promise<unknown>): Promise<[number, number, unknown]> {
  const err = await apiError(promise);
  return [err.httpStatus, err.code, reasonOf(err)];
}

/** A call's result, or undefined while it fails (for polling until it succeeds). */
const once = <T>(call: Promise<T>): Promise<T | undefined> => call.catch(() => undefined);
/** The code a call fails with, or undefined while it succeeds. */
const failingCode = (call: Promise<unknown>): Promise<number | undefined> => call.then(() => undefined, (err: unknown) => (err instanceof ApiError ? err.code : undefined));

const SUSPENDED: [number, number, unknown] = [403, Code.PERMISSION_DENIED, 'ORG_SUSPENDED'];

async function addMember(owner: Caller, org: string, user: Caller, role: 'ROLE_ADMIN' | 'ROLE_MEMBER' | 'ROLE_VIEWER') {
  const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: user.email, role } });
  await user.api.org.acceptInvitation({ token });
}

describe('platform administration over REST', () => {
  let admin: Caller;
  let owner: Caller;
  let member: Caller;
  let outsider: Caller;
  let org: string;
  let otherOrg: string;
  let board: string;
  let list: string;
  let task: string;

  beforeAll(async () => {
    admin = await signUpWith(ADMIN_EMAIL);
    owner = await signUpAs(stack.url, 'owner');
    member = await signUpAs(stack.url, 'member');
    outsider = await signUpAs(stack.url, 'outsider');
    org = (await owner.api.org.createOrganization({ organization: { displayName: 'Suspended soon' } })).organization!.name;
    otherOrg = (await outsider.api.org.createOrganization({ organization: { displayName: 'Stays active' } })).organization!.name;
    await addMember(owner, org, member, 'ROLE_MEMBER');
    board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
    list = (await owner.api.board.createList({ parent: board, list: { displayName: 'L' } })).list!.name;
    task = (await member.api.task.createTask({ parent: board, task: { list, title: 'one', priority: 'PRIORITY_MEDIUM' } })).task!.name;
    await owner.api.task.createTask({ parent: board, task: { list, title: 'two', priority: 'PRIORITY_MEDIUM' } });
  }, 120_000);

  it('refuses every admin route to non-administrators with 403', async () => {
    for (const caller of [owner, member]) {
      expect(await refusal(caller.api.admin.listOrganizations({}))).toEqual([403, Code.PERMISSION_DENIED, 'NOT_PLATFORM_ADMIN']);
      expect(await refusal(caller.api.admin.suspendOrganization({ name: org, reason: 'mine' }))).toEqual([403, Code.PERMISSION_DENIED, 'NOT_PLATFORM_ADMIN']);
      expect(await refusal(caller.api.admin.updateOrganization({ organization: { name: org, plan: 'PLAN_ENTERPRISE' }, updateMask: 'plan' }))).toEqual([
        403,
        Code.PERMISSION_DENIED,
        'NOT_PLATFORM_ADMIN',
      ]);
      expect(await refusal(caller.api.admin.listAuditEvents({}))).toEqual([403, Code.PERMISSION_DENIED, 'NOT_PLATFORM_ADMIN']);
      expect(await refusal(caller.api.admin.listDeadLetters({}))).toEqual([403, Code.PERMISSION_DENIED, 'NOT_PLATFORM_ADMIN']);
      expect(await refusal(caller.api.admin.replayAllDeadLetters({}))).toEqual([403, Code.PERMISSION_DENIED, 'NOT_PLATFORM_ADMIN']);
    }
    const anonymous = await apiError(createClient({ baseUrl: stack.url }).admin.listOrganizations({}));
    expect(anonymous.httpStatus).toBe(401);
  });

  it('lists every organization with plan, state, member and task counts, filtered by state and paged', async () => {
    const all: Awaited<ReturnType<TaskmeshClient['admin']['listOrganizations']>>['organizations'] = [];
    let pageToken = '';
    do {
      const page = await admin.api.admin.listOrganizations({ pageSize: 1, pageToken });
      expect(page.organizations.length).toBeLessThanOrEqual(1);
      all.push(...page.organizations);
      pageToken = page.nextPageToken;
    } while (pageToken);
    const mine = all.find((o) => o.name === org);
    expect(mine).toMatchObject({ displayName: 'Suspended soon', plan: 'PLAN_FREE', state: 'STATE_ACTIVE', memberCount: 2, taskCount: '2' });
    expect(mine!.createTime).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(all.find((o) => o.name === otherOrg)).toMatchObject({ memberCount: 1, taskCount: '0', state: 'STATE_ACTIVE' });
    const suspended = await admin.api.admin.listOrganizations({ state: 'STATE_SUSPENDED' });
    expect(suspended.organizations.map((o) => o.name)).not.toContain(org);

    // A deleted organization is listed as DELETED until it is purged, and can be neither suspended nor re-planned.
    const doomed = (await outsider.api.org.createOrganization({ organization: { displayName: 'Doomed' } })).organization!.name;
    await outsider.api.org.deleteOrganization({ name: doomed });
    const deleted = await admin.api.admin.listOrganizations({ state: 'STATE_DELETED' });
    expect(deleted.organizations.map((o) => [o.name, o.state])).toEqual([[doomed, 'STATE_DELETED']]);
    expect((await admin.api.admin.listOrganizations({ state: 'STATE_ACTIVE' })).organizations.map((o) => o.name)).not.toContain(doomed);
    expect((await apiError(admin.api.admin.suspendOrganization({ name: doomed, reason: 'x' }))).httpStatus).toBe(404);
    expect((await apiError(admin.api.admin.updateOrganization({ organization: { name: doomed, plan: 'PLAN_TEAM' }, updateMask: 'plan' }))).httpStatus).toBe(404);
  });

  it('suspends: 403 ORG_SUSPENDED on every service, OWNER reads still answered, writes refused; reactivation restores', async () => {
    // An endpoint for the suspension events: their deliveries wait while the org is suspended.
    await owner.api.webhook.createWebhook({
      parent: org,
      webhook: { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`, eventTypes: ['taskmesh.org.v1.OrganizationSuspended', 'taskmesh.org.v1.OrganizationReactivated'] },
    });
    // Warm the services' membership caches first, so only the eviction events can make suspension felt.
    await member.api.board.getBoard({ name: board });
    await member.api.task.getTask({ name: task });
    await owner.api.board.getBoard({ name: board });

    const invalid = await apiError(admin.api.admin.suspendOrganization({ name: org, reason: '  ' }));
    expect([invalid.httpStatus, invalid.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    const unknown = await apiError(admin.api.admin.suspendOrganization({ name: `organizations/${randomUUID()}`, reason: 'x' }));
    expect([unknown.httpStatus, unknown.code]).toEqual([404, Code.NOT_FOUND]);

    // A public share link of the task: it stops opening while the org is suspended.
    const { url } = await owner.api.share.createShareLink({ parent: task, shareLink: {} });
    const code = url.slice(url.lastIndexOf('/') + 1);
    const anonymous = createClient({ baseUrl: stack.url });
    expect((await anonymous.share.getSharedTask({ code })).task).toBeDefined();
    // API tokens of the org: refused as members are while the org is suspended (an OWNER token keeps its reads).
    const { token: apiSecret } = await owner.api.org.createApiToken({ parent: org, apiToken: { displayName: 'ci', role: 'ROLE_MEMBER' } });
    const robot = createClient({ baseUrl: stack.url, token: apiSecret });
    expect((await robot.board.getBoard({ name: board })).board!.name).toBe(board);
    const { token: ownerSecret } = await owner.api.org.createApiToken({ parent: org, apiToken: { displayName: 'backup', role: 'ROLE_OWNER' } });
    const ownerRobot = createClient({ baseUrl: stack.url, token: ownerSecret });
    // An invitation issued before, and a live board stream of the member: both end with the suspension.
    const { token: invitation } = await owner.api.org.createInvitation({ parent: org, invitation: { email: outsider.email, role: 'ROLE_VIEWER' } });
    const watching = new AbortController();
    const stream = (async () => {
      for await (const _ of member.api.board.watchBoard({ name: board }, { signal: watching.signal })) {
        // heartbeats and events until the stream ends
      }
      return 'ended';
    })().catch((err: unknown) => (err instanceof ApiError ? `failed ${err.code}` : 'failed'));

    const { organization } = await admin.api.admin.suspendOrganization({ name: org, reason: 'unpaid invoices' });
    expect(organization).toMatchObject({ name: org, state: 'STATE_SUSPENDED', suspendReason: 'unpaid invoices', memberCount: 2, taskCount: '2' });
    expect(await refusal(admin.api.admin.suspendOrganization({ name: org, reason: 'again' }))).toEqual([400, Code.FAILED_PRECONDITION, 'ORG_ALREADY_SUSPENDED']);

    await eventually(async () => (await failingCode(member.api.board.getBoard({ name: board }))) === Code.PERMISSION_DENIED, 'board refusing the member');
    expect(await refusal(member.api.board.getBoard({ name: board }))).toEqual(SUSPENDED);
    await eventually(async () => (await failingCode(member.api.task.getTask({ name: task }))) === Code.PERMISSION_DENIED, 'task refusing the member');
    expect(await refusal(member.api.task.getTask({ name: task }))).toEqual(SUSPENDED);
    expect(await refusal(member.api.task.createTask({ parent: board, task: { list, title: 'no', priority: 'PRIORITY_MEDIUM' } }))).toEqual(SUSPENDED);
    expect(await refusal(member.api.org.getOrganization({ name: org }))).toEqual(SUSPENDED);
    expect(await refusal(member.api.attachment.listAttachments({ parent: task }))).toEqual(SUSPENDED);
    expect(await stream).toBe('ended');
    await eventually(async () => (await failingCode(anonymous.share.getSharedTask({ code }))) === Code.PERMISSION_DENIED, 'the share link refused');
    expect(await refusal(anonymous.share.getSharedTask({ code }))).toEqual(SUSPENDED);
    expect(await refusal(outsider.api.org.acceptInvitation({ token: invitation }))).toEqual(SUSPENDED);
    await eventually(async () => (await failingCode(robot.board.getBoard({ name: board }))) === Code.PERMISSION_DENIED, 'the API token refused');
    expect(await refusal(robot.board.getBoard({ name: board }))).toEqual(SUSPENDED);
    expect(await refusal(robot.task.getTask({ name: task }))).toEqual(SUSPENDED);
    expect(await refusal(ownerRobot.task.createTask({ parent: board, task: { list, title: 'no', priority: 'PRIORITY_MEDIUM' } }))).toEqual(SUSPENDED);
    expect((await ownerRobot.task.getTask({ name: task })).task!.name).toBe(task);
    // Strangers still learn nothing: not a member is 404, suspended or not.
    expect((await apiError(outsider.api.board.getBoard({ name: board }))).httpStatus).toBe(404);

    // The OWNER keeps the reads, on every service...
    await eventually(async () => (await once(owner.api.board.getBoard({ name: board })))?.board, 'owner read');
    expect((await owner.api.board.listLists({ parent: board })).lists.map((l) => l.name)).toEqual([list]);
    expect((await owner.api.task.getTask({ name: task })).task!.name).toBe(task);
    expect((await owner.api.task.listTasks({ parent: board })).tasks).toHaveLength(2);
    expect((await owner.api.org.listMembers({ parent: org })).members).toHaveLength(2);
    expect((await owner.api.audit.listAuditEvents({ parent: org })).auditEvents.length).toBeGreaterThan(0);
    expect((await owner.api.webhook.listWebhooks({ parent: org })).webhooks).toHaveLength(1);
    expect((await owner.api.attachment.listAttachments({ parent: task })).attachments).toEqual([]);
    // ...and no write.
    expect(await refusal(owner.api.task.createTask({ parent: board, task: { list, title: 'no', priority: 'PRIORITY_MEDIUM' } }))).toEqual(SUSPENDED);
    expect(await refusal(owner.api.board.createBoard({ parent: org, board: { displayName: 'no' } }))).toEqual(SUSPENDED);
    expect(await refusal(owner.api.org.updateOrganization({ organization: { name: org, displayName: 'no' }, updateMask: 'displayName' }))).toEqual(SUSPENDED);
    expect(await refusal(owner.api.webhook.createWebhook({ parent: org, webhook: { url: 'https://example.com/hook', eventTypes: ['taskmesh.task.v1.TaskCreated'] } }))).toEqual(SUSPENDED);

    // The webhook delivery of OrganizationSuspended exists but is not claimed while the org is suspended.
    const webhookDb = stack.get(webhookService).db.em;
    const orgId = org.slice('organizations/'.length);
    await eventually(
      async () => (await webhookDb.fork().execute(`select 1 from suspended_orgs where org_id = ?`, [orgId])).length === 1,
      'webhook knowing of the suspension',
    );
    const pending = await eventually(async () => {
      const rows = await webhookDb.fork().execute<{ lease_until: Date | null }[]>(`select lease_until from delivery_due where org_id = ?`, [orgId]);
      return rows.length === 1 && rows;
    }, 'the suspension delivery scheduled');
    stack.get(webhookService).worker.wake();
    expect(pending[0]!.lease_until).toBeNull();
    expect(received).toEqual([]);

    const listed = await admin.api.admin.listOrganizations({ state: 'STATE_SUSPENDED' });
    expect(listed.organizations.map((o) => o.name)).toContain(org);
    expect(listed.organizations.map((o) => o.name)).not.toContain(otherOrg);
    expect((await admin.api.admin.listOrganizations({ state: 'STATE_ACTIVE' })).organizations.map((o) => o.name)).not.toContain(org);

    const reactivated = await admin.api.admin.reactivateOrganization({ name: org });
    expect(reactivated.organization).toMatchObject({ state: 'STATE_ACTIVE', suspendReason: '' });
    expect(await refusal(admin.api.admin.reactivateOrganization({ name: org }))).toEqual([400, Code.FAILED_PRECONDITION, 'ORG_NOT_SUSPENDED']);
    await eventually(async () => (await once(member.api.board.getBoard({ name: board })))?.board, 'member read again');
    await eventually(async () => (await once(anonymous.share.getSharedTask({ code })))?.task, 'the share link open again');
    await eventually(async () => (await once(robot.board.getBoard({ name: board })))?.board, 'the API token working again');
    // Deliveries resume: both events reach the endpoint (sent side by side, so in either order).
    await eventually(async () => received.length === 2, 'the paused deliveries sent', 600);
    expect([...received].sort()).toEqual(['taskmesh.org.v1.OrganizationReactivated', 'taskmesh.org.v1.OrganizationSuspended']);
    await eventually(async () => (await once(member.api.task.createTask({ parent: board, task: { list, title: 'three', priority: 'PRIORITY_MEDIUM' } })))?.task, 'member write again');
  }, 120_000);

  it('pauses the daily digest of a suspended organization', async () => {
    const notify = stack.get(notifyService);
    // Two digest runs a day apart (23:00 UTC tomorrow and the day after), each with one task due in its window.
    const tomorrow = new Date();
    tomorrow.setUTCHours(23, 0, 0, 0);
    const firstRun = new Date(tomorrow.getTime() + 86_400_000);
    const secondRun = new Date(firstRun.getTime() + 86_400_000);
    const dueIn = (run: Date) => new Date(run.getTime() + 2 * 3_600_000).toISOString();
    for (const run of [firstRun, secondRun]) {
      await owner.api.task.createTask({ parent: board, task: { list, title: `due ${run.toISOString()}`, priority: 'PRIORITY_MEDIUM', assignees: [member.user], dueTime: dueIn(run) } });
    }
    const snapshots = async () =>
      (await notify.db.em.fork().execute<{ n: number }[]>(`select count(*)::int as n from task_snapshot where organization = ? and due_time is not null`, [org]))[0]!.n;
    await eventually(async () => (await snapshots()) === 2, 'notify holding both tasks');

    await admin.api.admin.suspendOrganization({ name: org, reason: 'digest check' });
    await eventually(
      async () => (await notify.db.em.fork().execute(`select 1 from suspended_organization where name = ?`, [org])).length === 1,
      'notify knowing of the suspension',
    );
    expect(await notify.digest.runDue(firstRun)).toBe(0);

    await admin.api.admin.reactivateOrganization({ name: org });
    await eventually(
      async () => (await notify.db.em.fork().execute(`select 1 from suspended_organization where name = ?`, [org])).length === 0,
      'notify knowing of the reactivation',
    );
    expect(await notify.digest.runDue(secondRun)).toBe(1);
  }, 60_000);

  it('changes the plan; both audit logs record every admin action with the admin as actor', async () => {
    const invalid = await apiError(admin.api.admin.updateOrganization({ organization: { name: org, plan: 'PLAN_TEAM' }, updateMask: 'displayName' }));
    expect([invalid.httpStatus, invalid.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    const unset = await apiError(admin.api.admin.updateOrganization({ organization: { name: org }, updateMask: 'plan' }));
    expect([unset.httpStatus, unset.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    const { organization } = await admin.api.admin.updateOrganization({ organization: { name: org, plan: 'PLAN_TEAM' }, updateMask: 'plan' });
    expect(organization).toMatchObject({ name: org, plan: 'PLAN_TEAM', state: 'STATE_ACTIVE' });

    const platform = await admin.api.admin.listAuditEvents({ organization: org });
    expect(platform.auditEvents.map((e) => [e.action, e.actor, e.organization, e.detail])).toEqual([
      ['UpdateOrganization', admin.user, org, 'plan FREE → TEAM'],
      ['ReactivateOrganization', admin.user, org, ''],
      ['SuspendOrganization', admin.user, org, 'digest check'],
      ['ReactivateOrganization', admin.user, org, ''],
      ['SuspendOrganization', admin.user, org, 'unpaid invoices'],
    ]);
    const firstPage = await admin.api.admin.listAuditEvents({ organization: org, pageSize: 3 });
    const secondPage = await admin.api.admin.listAuditEvents({ organization: org, pageSize: 3, pageToken: firstPage.nextPageToken });
    expect([...firstPage.auditEvents, ...secondPage.auditEvents].map((e) => e.name)).toEqual(platform.auditEvents.map((e) => e.name));
    expect(secondPage.nextPageToken).toBe('');

    const orgLog = await eventually(async () => {
      const res = await owner.api.audit.listAuditEvents({ parent: org });
      const admins = res.auditEvents.filter((e) => e.actor === admin.user);
      return admins.length === 5 && admins;
    }, 'five admin entries in the org audit log');
    expect(orgLog.slice(2).map((e) => e.eventType)).toEqual([
      'taskmesh.org.v1.OrganizationSuspended',
      'taskmesh.org.v1.OrganizationReactivated',
      'taskmesh.org.v1.OrganizationSuspended',
    ]);
    expect(orgLog.slice(0, 2).concat(orgLog.slice(4)).map((e) => [e.eventType, e.changes])).toEqual([
      ['taskmesh.org.v1.OrganizationPlanChanged', [{ field: 'plan', oldValue: 'PLAN_FREE', newValue: 'PLAN_TEAM' }]],
      ['taskmesh.org.v1.OrganizationReactivated', [{ field: 'state', oldValue: 'SUSPENDED', newValue: 'ACTIVE' }]],
      [
        'taskmesh.org.v1.OrganizationSuspended',
        [
          { field: 'state', oldValue: 'ACTIVE', newValue: 'SUSPENDED' },
          { field: 'suspend_reason', oldValue: null, newValue: 'unpaid invoices' },
        ],
      ],
    ]);
  }, 60_000);

  it('grants and revokes platform administration with npm run admin:grant / admin:revoke', async () => {
    const newcomer = await signUpAs(stack.url, 'newcomer');
    expect((await apiError(newcomer.api.admin.listOrganizations({}))).httpStatus).toBe(403);
    const env = { DATABASE_URL: stack.databaseUrl };
    const lines: string[] = [];
    expect(await runPlatformAdminCommand(['grant', newcomer.email.toUpperCase()], env, (l) => lines.push(l))).toBe(0);
    expect(await runPlatformAdminCommand(['grant', newcomer.email], env, (l) => lines.push(l))).toBe(0);
    expect(lines).toEqual([`granted platform administration to ${newcomer.email.toUpperCase()}`, `${newcomer.email} was already a platform administrator`]);
    expect((await newcomer.api.admin.listOrganizations({})).organizations.map((o) => o.name)).toContain(org);
    expect(await runPlatformAdminCommand(['grant', 'not-an-address'], env, () => undefined)).toBe(2);
    expect(await runPlatformAdminCommand(['promote', newcomer.email], env, () => undefined)).toBe(2);

    const run = promisify(execFile);
    const { stdout } = await run('npm', ['run', '--silent', 'admin:revoke', '--', newcomer.email], { cwd: root, env: { ...process.env, ...env } });
    expect(stdout.trim()).toBe(`revoked platform administration of ${newcomer.email}`);
    expect((await apiError(newcomer.api.admin.listOrganizations({}))).httpStatus).toBe(403);
    // Addresses in PLATFORM_ADMIN_EMAILS stay administrators whatever the table says.
    const out: string[] = [];
    await runPlatformAdminCommand(['revoke', ADMIN_EMAIL], { ...env, PLATFORM_ADMIN_EMAILS: ADMIN_EMAIL }, (l) => out.push(l));
    expect(out).toEqual([`${ADMIN_EMAIL} had no grant`, `${ADMIN_EMAIL} stays an administrator: it is in PLATFORM_ADMIN_EMAILS`]);
    expect((await admin.api.admin.listOrganizations({})).organizations.length).toBeGreaterThan(0);
  }, 60_000);
});

describe.skipIf(!natsUrl)('dead letters over REST (JetStream)', () => {
  const POISON = 'taskmesh.admintest.v1.PoisonPill';
  let admin: Caller;
  let subscription: RunningSubscription;
  let healed = false;
  const handled = new Map<string, number>();
  const ids: string[] = [];

  beforeAll(async () => {
    admin = await signUpWith(`dlq-admin-${process.pid}-${Date.now()}@example.com`);
    await runPlatformAdminCommand(['grant', admin.email], { DATABASE_URL: stack.databaseUrl }, () => undefined);
    subscription = await stack.bus.subscribe({
      consumer: 'admin-rest-test',
      types: [POISON],
      handle: async (event) => {
        if (!healed) throw new PermanentEventError('downstream rejected it');
        handled.set(event.id, (handled.get(event.id) ?? 0) + 1);
      },
    });
    const org = `organizations/${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const id = randomUUID();
      ids.push(id);
      await stack.bus.publish({ id, type: POISON, organization: org, actor: 'users/u1', resource: `${org}/x/${i}`, occurTime: new Date(), payload: new Uint8Array([i]) }, {});
    }
    await eventually(async () => (await admin.api.admin.listDeadLetters({ consumer: 'admin-rest-test' })).deadLetters.length === 3, 'three dead letters', 600);
  }, 60_000);
  afterAll(async () => {
    await subscription?.stop();
  });

  it('lists, replays one and replays all, as npm run dlq does; 404 for an unknown one', async () => {
    const { deadLetters } = await admin.api.admin.listDeadLetters({ consumer: 'admin-rest-test' });
    expect(deadLetters.map((l) => l.eventId)).toEqual(ids);
    for (const letter of deadLetters) {
      expect(letter).toMatchObject({ consumer: 'admin-rest-test', eventType: POISON, deliveries: 1 });
      expect(letter.name).toMatch(/^deadLetters\/\d+$/);
      expect(letter.reason).toContain('downstream rejected it');
    }
    const paged = await admin.api.admin.listDeadLetters({ consumer: 'admin-rest-test', pageSize: 2 });
    const rest = await admin.api.admin.listDeadLetters({ consumer: 'admin-rest-test', pageSize: 2, pageToken: paged.nextPageToken });
    expect([...paged.deadLetters, ...rest.deadLetters].map((l) => l.name)).toEqual(deadLetters.map((l) => l.name));
    expect((await admin.api.admin.listDeadLetters({ consumer: 'nobody' })).deadLetters).toEqual([]);

    healed = true;
    const replayed = await admin.api.admin.replayDeadLetter({ name: deadLetters[0]!.name });
    expect(replayed.deadLetter!.eventId).toBe(ids[0]);
    await eventually(async () => handled.get(ids[0]!) === 1, 'the replayed event handled');
    expect(await refusal(admin.api.admin.replayDeadLetter({ name: deadLetters[0]!.name }))).toEqual([404, Code.NOT_FOUND, 'NOT_FOUND']);
    expect((await apiError(admin.api.admin.replayDeadLetter({ name: 'deadLetters/abc' }))).httpStatus).toBe(400);

    const all = await admin.api.admin.replayAllDeadLetters({ consumer: 'admin-rest-test' });
    expect(all.deadLetters.map((l) => l.eventId)).toEqual(ids.slice(1));
    await eventually(async () => ids.every((id) => handled.get(id) === 1), 'every event handled once');
    expect((await admin.api.admin.listDeadLetters({ consumer: 'admin-rest-test' })).deadLetters).toEqual([]);

    const log = await admin.api.admin.listAuditEvents({});
    expect(log.auditEvents.slice(0, 2).map((e) => [e.action, e.actor, e.organization])).toEqual([
      ['ReplayAllDeadLetters', admin.user, ''],
      ['ReplayDeadLetter', admin.user, ''],
    ]);
  }, 60_000);
});

describe('dead letters without JetStream', () => {
  it('answers FAILED_PRECONDITION: the in-process bus keeps no replayable dead letters', async () => {
    const deadLetters = new AdminDeadLetters({ natsUrl: undefined, stream: 'TASKMESH', subjectPrefix: 'taskmesh' });
    await expect(deadLetters.list({ consumer: '' }, { pageSize: 0, pageToken: '' })).rejects.toMatchObject({ code: Code.FAILED_PRECONDITION, reason: 'DEAD_LETTERS_NEED_JETSTREAM' });
    await expect(deadLetters.replayAll({ consumer: '' })).rejects.toMatchObject({ code: Code.FAILED_PRECONDITION });
  });
});
