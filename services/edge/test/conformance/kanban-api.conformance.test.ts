import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, restApi, uniqueEmail } from './rest-api.ts';
import type { RestApi } from './rest-api.ts';
import { startConformanceTarget } from './target.ts';
import type { ConformanceTarget } from './target.ts';

// The organization, board, task and audit APIs over plain HTTP, as API.md describes them: success shapes,
// error statuses, pagination, update masks, request ids and the WatchBoard stream. Same target rules as
// rest-api.conformance.test.ts (TASKMESH_BASE_URL, or a self-started embedded stack).

let target: ConformanceTarget;
let api: RestApi;

interface Account {
  email: string;
  user: { name: string };
  accessToken: string;
}

async function signUp(label: string): Promise<Account> {
  const email = uniqueEmail(label);
  const response = await api.post('/v1/auth:signUp', { email, password: 'correct horse battery', displayName: label });
  expect(response.status, response.text).toBe(200);
  return { email, ...(response.json as { user: { name: string }; accessToken: string }) };
}

async function ok<T = any>(promise: Promise<{ status: number; text: string; json: any }>): Promise<T> {
  const response = await promise;
  expect(response.status, response.text).toBe(200);
  return response.json as T;
}

let owner: Account;
let member: Account;
let viewer: Account;
let outsider: Account;
let org: string;
let board: string;
let todo: string;
let doing: string;

async function join(account: Account, role: string) {
  const invited = await ok(api.post(`/v1/${org}/invitations`, { email: account.email, role }, { token: owner.accessToken }));
  await ok(api.post('/v1/invitations:accept', { token: invited.token }, { token: account.accessToken }));
}

beforeAll(async () => {
  target = await startConformanceTarget();
  api = restApi(target.baseUrl);
  [owner, member, viewer, outsider] = await Promise.all([signUp('owner'), signUp('member'), signUp('viewer'), signUp('outsider')]);
  org = (await ok(api.post('/v1/organizations', { displayName: 'Conformance Inc' }, { token: owner.accessToken }))).organization.name;
  await join(member, 'ROLE_MEMBER');
  await join(viewer, 'ROLE_VIEWER');
  board = (await ok(api.post(`/v1/${org}/boards`, { displayName: 'Roadmap' }, { token: owner.accessToken }))).board.name;
  todo = (await ok(api.post(`/v1/${board}/lists`, { displayName: 'To do' }, { token: owner.accessToken }))).list.name;
  doing = (await ok(api.post(`/v1/${board}/lists`, { displayName: 'Doing' }, { token: owner.accessToken }))).list.name;
}, 120_000);

afterAll(async () => {
  await target?.close();
});

const createTask = (title: string, token = owner.accessToken, extra: Record<string, unknown> = {}, query = '') =>
  api.post(`/v1/${board}/tasks${query}`, { list: todo, title, priority: 'PRIORITY_MEDIUM', ...extra }, { token });
const newTask = async (title: string, token = owner.accessToken, extra: Record<string, unknown> = {}, query = '') =>
  (await ok(createTask(title, token, extra, query))).task;

describe('organizations, boards and tasks over REST', () => {
  it('returns resources with AIP names, lowerCamelCase fields, enum names and every field printed', async () => {
    const task = await newTask('Write the spec', owner.accessToken, { labels: ['docs'], assignees: [member.user.name] });
    expect(task.name).toMatch(new RegExp(`^${board}/tasks/[^/]+$`));
    expect(task).toMatchObject({ list: todo, title: 'Write the spec', status: 'TASK_STATUS_TODO', priority: 'PRIORITY_MEDIUM', archived: false, description: '' });
    expect(task.assignees).toEqual([member.user.name]);
    expect(typeof task.etag).toBe('string');
    expect(Number.isNaN(Date.parse(task.createTime))).toBe(false);
  });

  it('treats a create retried with the same requestId as the first one', async () => {
    const requestId = crypto.randomUUID();
    const first = await ok(api.post(`/v1/${org}/boards?requestId=${requestId}`, { displayName: 'Once' }, { token: owner.accessToken }));
    const again = await ok(api.post(`/v1/${org}/boards?requestId=${requestId}`, { displayName: 'Once' }, { token: owner.accessToken }));
    expect(again.board.name).toBe(first.board.name);
    const taskId = crypto.randomUUID();
    const t1 = await newTask('Idempotent', owner.accessToken, {}, `?requestId=${taskId}`);
    const t2 = await newTask('Idempotent', owner.accessToken, {}, `?requestId=${taskId}`);
    expect(t2.name).toBe(t1.name);
  });

  it('pages a board with pageSize and opaque pageTokens, and rejects a negative pageSize', async () => {
    const pagedList = (await ok(api.post(`/v1/${board}/lists`, { displayName: 'Paged' }, { token: owner.accessToken }))).list.name;
    const titles = ['p1', 'p2', 'p3', 'p4', 'p5'];
    for (const title of titles) await newTask(title, owner.accessToken, { list: pagedList });
    const seen: string[] = [];
    let pageToken = '';
    for (let pages = 0; pages < 10; pages++) {
      const page = await ok(api.get(`/v1/${board}/tasks?list=${encodeURIComponent(pagedList)}&pageSize=2&pageToken=${encodeURIComponent(pageToken)}`, { token: owner.accessToken }));
      expect(page.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...page.tasks.map((t: { title: string }) => t.title));
      pageToken = page.nextPageToken;
      if (!pageToken) break;
    }
    expect(seen).toEqual(titles);
    const negative = await api.get(`/v1/${board}/tasks?pageSize=-1`, { token: owner.accessToken });
    expect(negative.status).toBe(400);
    expect(errorOf(negative).code).toBe(3);
  });

  it('updates only the fields in updateMask, enforces the status workflow and the etag', async () => {
    const task = await newTask('Masked');
    const updated = (
      await ok(api.patch(`/v1/${task.name}?updateMask=status`, { status: 'TASK_STATUS_IN_PROGRESS', title: 'ignored' }, { token: owner.accessToken }))
    ).task;
    expect(updated).toMatchObject({ title: 'Masked', status: 'TASK_STATUS_IN_PROGRESS' });
    const skip = await api.patch(`/v1/${task.name}?updateMask=status`, { status: 'TASK_STATUS_TODO' }, { token: owner.accessToken });
    expect(skip.status, skip.text).toBe(200);
    const invalid = await api.patch(`/v1/${task.name}?updateMask=status`, { status: 'TASK_STATUS_DONE' }, { token: owner.accessToken });
    expect(invalid.status).toBe(400);
    expect(errorOf(invalid).code).toBe(9);
    const stale = await api.patch(`/v1/${task.name}?updateMask=title`, { title: 'New', etag: task.etag }, { token: owner.accessToken });
    expect(stale.status).toBe(409);
    expect(errorOf(stale).code).toBe(10);
  });

  it('batch-updates tasks with :batchUpdate, all or nothing, for owners and admins only', async () => {
    const [a, b] = [await newTask('Batch A'), await newTask('Batch B')];
    const url = `/v1/${board}/tasks:batchUpdate`;
    const updated = (
      await ok(
        api.post(
          url,
          { requests: [{ task: { name: a.name, priority: 'PRIORITY_HIGH' }, updateMask: 'priority' }, { task: { name: b.name, labels: ['x'] }, updateMask: 'labels' }] },
          { token: owner.accessToken },
        ),
      )
    ).tasks;
    expect(updated.map((t: { name: string }) => t.name)).toEqual([a.name, b.name]);
    expect(updated[0]).toMatchObject({ priority: 'PRIORITY_HIGH' });
    expect(updated[1]).toMatchObject({ labels: ['x'] });
    // One bad request (a skipped status step) changes nothing, the other request included.
    const failed = await api.post(
      url,
      { requests: [{ task: { name: a.name, title: 'Changed' }, updateMask: 'title' }, { task: { name: b.name, status: 'TASK_STATUS_DONE' }, updateMask: 'status' }] },
      { token: owner.accessToken },
    );
    expect([failed.status, errorOf(failed).code]).toEqual([400, 9]);
    expect((await ok(api.get(`/v1/${a.name}`, { token: owner.accessToken }))).task.title).toBe('Batch A');
    const tooMany = Array.from({ length: 101 }, () => ({ task: { name: a.name, title: 'x' }, updateMask: 'title' }));
    const refused = await api.post(url, { requests: tooMany }, { token: owner.accessToken });
    expect([refused.status, errorOf(refused).code]).toEqual([400, 3]);
    const byMember = await api.post(url, { requests: [{ task: { name: a.name, title: 'x' }, updateMask: 'title' }] }, { token: member.accessToken });
    expect([byMember.status, errorOf(byMember).code]).toEqual([403, 7]);
    const byOutsider = await api.post(url, { requests: [{ task: { name: a.name, title: 'x' }, updateMask: 'title' }] }, { token: outsider.accessToken });
    expect([byOutsider.status, errorOf(byOutsider).code]).toEqual([404, 5]);
  });

  it('answers 401 without a token, 403 for a role without the right, 404 outside the org', async () => {
    expect((await api.get(`/v1/${board}/tasks`)).status).toBe(401);
    const viewerCreate = await createTask('Not allowed', viewer.accessToken);
    expect(viewerCreate.status).toBe(403);
    expect(errorOf(viewerCreate).code).toBe(7);
    const outsiderRead = await api.get(`/v1/${board}`, { token: outsider.accessToken });
    expect(outsiderRead.status).toBe(404);
    expect(errorOf(outsiderRead).code).toBe(5);
    // The outsider learns nothing: a board that does not exist answers the same.
    const missing = await api.get(`/v1/${org}/boards/00000000-0000-0000-0000-000000000000`, { token: outsider.accessToken });
    expect(missing.status).toBe(404);
    expect(errorOf(missing).message).toBe(errorOf(outsiderRead).message);
  });

  it('streams board events to a watcher while another member moves a task', async () => {
    const task = await newTask('Watched', member.accessToken);
    const controller = new AbortController();
    // Response headers may wait for the first message, so the move happens before awaiting them.
    const opening = fetch(`${target.baseUrl}/v1/${board}:watch`, {
      headers: { authorization: `Bearer ${viewer.accessToken}` },
      signal: controller.signal,
    });
    await new Promise((r) => setTimeout(r, 500));
    await ok(api.post(`/v1/${task.name}:move`, { list: doing }, { token: member.accessToken }));
    const response = await opening;
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const moved = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffered += decoder.decode(value, { stream: true });
        // Envoy-style framing: one JSON message per line (a JSON array with the default framing).
        for (const line of buffered.split('\n')) {
          const text = line.trim().replace(/^[[,]/, '').replace(/]$/, '');
          if (!text) continue;
          try {
            const message = JSON.parse(text);
            if (message.event?.type === 'taskmesh.task.v1.TaskMoved' && message.event.resource === task.name) return message;
          } catch {
            // an incomplete line: wait for more bytes
          }
        }
      }
    })();
    const timer = setTimeout(() => controller.abort(), 15_000);
    const message = await moved.catch(() => undefined);
    clearTimeout(timer);
    controller.abort();
    expect(message, 'a TaskMoved event for the task within 15 s').toBeDefined();
    expect((message as { event: { actor: string } }).event.actor).toBe(member.user.name);
  });

  it('keeps an audit log, newest first, for owners and admins only', async () => {
    const task = await newTask('Audited');
    await ok(api.delete(`/v1/${task.name}`, { token: owner.accessToken }));
    let events: { eventType: string; resource: string; actor: string }[] = [];
    for (let i = 0; i < 100; i++) {
      events = (await ok(api.get(`/v1/${org}/auditEvents?resource=${encodeURIComponent(task.name)}`, { token: owner.accessToken }))).auditEvents;
      if (events.length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(events.map((e) => e.eventType)).toEqual(['taskmesh.task.v1.TaskDeleted', 'taskmesh.task.v1.TaskCreated']);
    expect(events.every((e) => e.actor === owner.user.name)).toBe(true);
    const asMember = await api.get(`/v1/${org}/auditEvents`, { token: member.accessToken });
    expect(asMember.status).toBe(403);
  });
});

describe('share links API', () => {
  it('creates a task with only a list and a title, at PRIORITY_MEDIUM', async () => {
    const created = await ok(api.post(`/v1/${board}/tasks`, { list: todo, title: 'Bare' }, { token: member.accessToken }));
    expect(created.task.priority).toBe('PRIORITY_MEDIUM');
  });

  it('POST/GET/DELETE shareLinks under a task; GET /v1/shared/{code} and POST :open without a token', async () => {
    const task = (await ok(api.post(`/v1/${board}/tasks`, { list: doing, title: 'Shared', labels: ['x'] }, { token: owner.accessToken }))).task.name;
    const created = await ok(api.post(`/v1/${task}/shareLinks`, {}, { token: member.accessToken }));
    expect(Object.keys(created).sort()).toEqual(['shareLink', 'url']);
    expect(created.shareLink).toMatchObject({ passwordProtected: false, openCount: 0, creator: member.user.name });
    const code = created.url.slice(created.url.lastIndexOf('/') + 1);
    expect(code).toMatch(/^[0-9A-Za-z]{22}$/);

    const shown = await ok(api.get(`/v1/shared/${code}`));
    expect(shown.task).toEqual({
      title: 'Shared',
      description: '',
      status: 'TASK_STATUS_TODO',
      priority: 'PRIORITY_MEDIUM',
      labels: ['x'],
      boardDisplayName: 'Roadmap',
      listDisplayName: 'Doing',
    });
    expect(typeof shown.expireTime).toBe('string');

    const listed = await ok(api.get(`/v1/${task}/shareLinks`, { token: owner.accessToken }));
    expect(listed.shareLinks.map((l: any) => l.name)).toEqual([created.shareLink.name]);
    expect(listed.nextPageToken).toBe('');
    expect((await api.get(`/v1/${task}/shareLinks`, { token: viewer.accessToken })).status).toBe(403);
    expect((await api.get(`/v1/${task}/shareLinks`, { token: outsider.accessToken })).status).toBe(404);

    const locked = await ok(api.post(`/v1/${task}/shareLinks`, { password: 'let me in please' }, { token: owner.accessToken }));
    const lockedCode = locked.url.slice(locked.url.lastIndexOf('/') + 1);
    const asked = await api.get(`/v1/shared/${lockedCode}`);
    expect(asked.status).toBe(401);
    expect(errorOf(asked).details.map((d: any) => d.reason)).toContain('SHARE_PASSWORD_REQUIRED');
    expect((await ok(api.post(`/v1/shared/${lockedCode}:open`, { password: 'let me in please' }))).task.title).toBe('Shared');

    expect(await ok(api.delete(`/v1/${created.shareLink.name}`, { token: member.accessToken }))).toEqual({});
    const gone = await api.get(`/v1/shared/${code}`);
    expect([gone.status, errorOf(gone).code]).toEqual([404, 5]);
  });
});
