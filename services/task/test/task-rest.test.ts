import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code, createClient } from '../../../gen/client/index.ts';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { DEMO_PASSWORD, seedDemo } from '../src/demo-seed.ts';
import { startHarness, type Harness } from './harness.ts';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ rest: true });
});
afterAll(async () => {
  await h?.close();
});

const signedIn = (label: string) => signUpAs(h.url, label);

describe('a whole board through REST with the generated client', () => {
  it('runs lists, tasks, moves, status, assignees, comments and search with the API.md rules', async () => {
    const alice = await signedIn('alice');
    const viewer = await signedIn('viewer');
    const { organization } = await alice.api.org.createOrganization({ organization: { displayName: 'REST Co' } });
    const org = organization!.name;
    const { token } = await alice.api.org.createInvitation({ parent: org, invitation: { email: viewer.email, role: 'ROLE_VIEWER' } });
    await viewer.api.org.acceptInvitation({ token });
    const { board } = await alice.api.board.createBoard({ parent: org, board: { displayName: 'Launch' } });
    const todo = (await alice.api.board.createList({ parent: board!.name, list: { displayName: 'To do' } })).list!.name;
    const done = (await alice.api.board.createList({ parent: board!.name, list: { displayName: 'Done' } })).list!.name;

    const write = (await alice.api.task.createTask({
      parent: board!.name,
      task: { list: todo, title: 'Write the launch post', priority: 'PRIORITY_HIGH', assignees: [alice.user], labels: ['blog'] },
    })).task!;
    expect(write).toMatchObject({ status: 'TASK_STATUS_TODO', priority: 'PRIORITY_HIGH', assignees: [alice.user], archived: false });
    const ship = (await alice.api.task.createTask({ parent: board!.name, task: { list: todo, title: 'Ship it', priority: 'PRIORITY_URGENT' } })).task!;

    // Move "Ship it" before "Write", then the list reads in that order.
    await alice.api.task.moveTask({ name: ship.name, beforeTask: write.name });
    expect((await alice.api.task.listTasks({ parent: board!.name, list: todo })).tasks.map((t) => t.title)).toEqual([
      'Ship it',
      'Write the launch post',
    ]);

    // PATCH with an update mask; a skipped status step is 400, a stale etag 409.
    const started = (await alice.api.task.updateTask({ task: { name: write.name, status: 'TASK_STATUS_IN_PROGRESS' }, updateMask: 'status' })).task!;
    expect(started.status).toBe('TASK_STATUS_IN_PROGRESS');
    const skipped = await apiError(alice.api.task.updateTask({ task: { name: ship.name, status: 'TASK_STATUS_DONE' }, updateMask: 'status' }));
    expect([skipped.httpStatus, skipped.code]).toEqual([400, Code.FAILED_PRECONDITION]);
    const stale = await apiError(alice.api.task.updateTask({ task: { name: write.name, title: 'x', etag: write.etag }, updateMask: 'title' }));
    expect([stale.httpStatus, stale.code]).toEqual([409, Code.ABORTED]);
    const invalid = await apiError(alice.api.task.createTask({ parent: board!.name, task: { list: todo, title: '', priority: 'PRIORITY_LOW' } }));
    expect([invalid.httpStatus, invalid.code]).toEqual([400, Code.INVALID_ARGUMENT]);

    await alice.api.task.moveTask({ name: write.name, list: done });
    const comment = (await alice.api.task.createComment({ parent: write.name, comment: { body: 'Draft is up' } })).comment!;
    expect((await viewer.api.task.listComments({ parent: write.name })).comments.map((c) => c.body)).toEqual(['Draft is up']);

    const found = await viewer.api.task.searchTasks({ parent: org, query: 'launch', assignee: alice.user });
    expect(found.tasks.map((t) => t.name)).toEqual([write.name]);

    // The viewer reads but may not write: 403.
    const denied = await apiError(viewer.api.task.updateTask({ task: { name: ship.name, title: 'mine now' }, updateMask: 'title' }));
    expect([denied.httpStatus, denied.code]).toEqual([403, Code.PERMISSION_DENIED]);

    await alice.api.task.deleteComment({ name: comment.name });
    await alice.api.task.deleteTask({ name: ship.name });
    const gone = await apiError(viewer.api.task.getTask({ name: ship.name }));
    expect([gone.httpStatus, gone.code]).toEqual([404, Code.NOT_FOUND]);
  });

  it('speaks Envoy JSON on the wire: enums by name, lowerCamelCase, RFC 3339 times', async () => {
    const bob = await signedIn('bob');
    const { organization } = await bob.api.org.createOrganization({ organization: { displayName: 'Wire Co' } });
    const { board } = await bob.api.board.createBoard({ parent: organization!.name, board: { displayName: 'B' } });
    const list = (await bob.api.board.createList({ parent: board!.name, list: { displayName: 'L' } })).list!.name;
    const token = (await createClient({ baseUrl: h.url }).identity.logIn({ email: bob.email, password: 'correct horse battery' })).accessToken;
    const res = await fetch(`${h.url}/v1/${board!.name}/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ list, title: 'Raw', priority: 'PRIORITY_LOW', dueTime: '2030-05-06T07:08:09Z' }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { task: Record<string, unknown> };
    expect(body.task).toMatchObject({ title: 'Raw', status: 'TASK_STATUS_TODO', dueTime: '2030-05-06T07:08:09Z', list });
    expect(typeof body.task.createTime).toBe('string');
  });
});

describe('start_time (a field added through the manifest)', () => {
  it('is created, updated by mask, cleared, and returned by get, list and search over REST', async () => {
    const carol = await signedIn('carol');
    const { organization } = await carol.api.org.createOrganization({ organization: { displayName: 'Start Co' } });
    const { board } = await carol.api.board.createBoard({ parent: organization!.name, board: { displayName: 'B' } });
    const list = (await carol.api.board.createList({ parent: board!.name, list: { displayName: 'L' } })).list!.name;
    const token = (await createClient({ baseUrl: h.url }).identity.logIn({ email: carol.email, password: 'correct horse battery' })).accessToken;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${h.url}/v1/${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    const created = await call('POST', `${board!.name}/tasks`, { list, title: 'Kick-off', priority: 'PRIORITY_LOW', startTime: '2030-01-02T03:04:05.678Z' });
    expect(created.status).toBe(200);
    const task = created.body.task;
    expect(task.startTime).toBe('2030-01-02T03:04:05.678Z');
    expect((await call('GET', task.name)).body.task.startTime).toBe('2030-01-02T03:04:05.678Z');

    // Another field's update leaves it; an update by mask changes it; a mask naming it with no value clears it.
    const retitled = await call('PATCH', `${task.name}?updateMask=title`, { title: 'Kick-off meeting', startTime: '2031-01-01T00:00:00Z' });
    expect(retitled.body.task.startTime).toBe('2030-01-02T03:04:05.678Z');
    const moved = await call('PATCH', `${task.name}?updateMask=startTime`, { startTime: '2030-02-03T04:05:06Z' });
    expect(moved.status).toBe(200);
    expect(moved.body.task.startTime).toBe('2030-02-03T04:05:06Z');
    const listed = await call('GET', `${board!.name}/tasks`);
    expect(listed.body.tasks.map((t: Record<string, unknown>) => t.startTime)).toEqual(['2030-02-03T04:05:06Z']);
    const searched = await call('GET', `${organization!.name}/tasks?query=kick`);
    expect(searched.body.tasks.map((t: Record<string, unknown>) => t.startTime)).toEqual(['2030-02-03T04:05:06Z']);
    const cleared = await call('PATCH', `${task.name}?updateMask=startTime`, {});
    expect(cleared.status).toBe(200);
    expect(cleared.body.task.startTime).toBeUndefined();
    expect((await call('GET', task.name)).body.task.startTime).toBeUndefined();
    // Not a timestamp: 400 before anything is stored.
    const bad = await call('PATCH', `${task.name}?updateMask=startTime`, { startTime: 'next week' });
    expect(bad.status).toBe(400);
  });
});

describe('npm run seed', () => {
  it('fills a running stack with a demo org whose log-ins work, and can run again', async () => {
    const emailDomain = `seed-${Date.now()}.example.com`;
    const first = await seedDemo({ baseUrl: h.url, emailDomain });
    expect(first.logins.map((l) => l.role)).toEqual(['OWNER', 'ADMIN', 'MEMBER', 'MEMBER', 'VIEWER']);
    expect(first.boards).toHaveLength(2);
    const viewer = first.logins.find((l) => l.role === 'VIEWER')!;
    const session = await createClient({ baseUrl: h.url }).identity.logIn({ email: viewer.email, password: DEMO_PASSWORD });
    const api = createClient({ baseUrl: h.url, token: session.accessToken });
    const launch = await api.task.listTasks({ parent: first.boards[0]! });
    expect(launch.tasks.map((t) => [t.title, t.status])).toEqual([
      ['Plan the launch webinar', 'TASK_STATUS_TODO'],
      ['Translate the pricing page', 'TASK_STATUS_TODO'],
      ['Write the launch announcement', 'TASK_STATUS_IN_PROGRESS'],
      ['Fix the checkout timeout', 'TASK_STATUS_IN_PROGRESS'],
      ['Freeze the feature set', 'TASK_STATUS_DONE'],
    ]);
    const announcement = launch.tasks[2]!;
    expect((await api.task.listComments({ parent: announcement.name })).comments).toHaveLength(2);
    const members = await api.org.listMembers({ parent: first.organization });
    expect(members.members.map((m) => m.role).sort()).toEqual(['ROLE_ADMIN', 'ROLE_MEMBER', 'ROLE_MEMBER', 'ROLE_OWNER', 'ROLE_VIEWER']);
    // A second run logs the same users in and makes a new organization.
    const second = await seedDemo({ baseUrl: h.url, emailDomain });
    expect(second.organization).not.toBe(first.organization);
  });
});
