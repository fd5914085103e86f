import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShareServiceClient } from '@taskmesh/gen/taskmesh/share/v1/share_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { Code, type TaskmeshClient } from '../../../gen/client/index.ts';
// Tests only: the whole embedded stack (real edge, real PostgreSQL, JetStream when NATS answers).
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { SHARE_SERVICE_NAME } from '../src/server.ts';

const natsUrl = await natsForTests();
const DAY = 24 * 60 * 60 * 1000;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: {
      SHARE_LINK_BASE_URL: 'https://share.example',
      SHARE_OPEN_MAX_FAILURES_PER_CODE: '3',
      SHARE_OPEN_MAX_FAILURES_PER_ADDRESS: '5',
    },
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

/** Plain HTTP to the edge, without a token: what a reader of a shared link does. */
async function publicCall(method: 'GET' | 'POST', path: string, body?: unknown) {
  const res = await fetch(stack.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
}

const reasonOf = (json: any): string | undefined =>
  json?.details?.find((d: any) => d['@type'] === 'type.googleapis.com/google.rpc.ErrorInfo')?.reason;

async function eventually<T>(probe: () => Promise<T | false | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Workspace {
  owner: Awaited<ReturnType<typeof signUpAs>>;
  member: Awaited<ReturnType<typeof signUpAs>>;
  viewer: Awaited<ReturnType<typeof signUpAs>>;
  org: string;
  board: string;
  list: string;
  task: string;
}

/** An org with an owner, a member and a viewer, a board "Roadmap" with a list "Doing", and a task in it. */
async function workspace(label: string): Promise<Workspace> {
  const owner = await signUpAs(stack.url, `${label}-owner`);
  const member = await signUpAs(stack.url, `${label}-member`);
  const viewer = await signUpAs(stack.url, `${label}-viewer`);
  const org = (await owner.api.org.createOrganization({ organization: { displayName: `Share ${label}` } })).organization!.name;
  for (const [who, role] of [[member, 'ROLE_MEMBER'], [viewer, 'ROLE_VIEWER']] as const) {
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: who.email, role } });
    await who.api.org.acceptInvitation({ token });
  }
  const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'Roadmap' } })).board!.name;
  const list = (await owner.api.board.createList({ parent: board, list: { displayName: 'Doing' } })).list!.name;
  const task = (
    await owner.api.task.createTask({
      parent: board,
      task: { list, title: 'Ship it', description: 'All of it', priority: 'PRIORITY_HIGH', labels: ['launch'], dueTime: '2027-01-15T10:00:00Z', assignees: [member.user] },
    })
  ).task!.name;
  return { owner, member, viewer, org, board, list, task };
}

const codeOf = (url: string) => url.slice(url.lastIndexOf('/') + 1);

async function share(api: TaskmeshClient, task: string, shareLink: { expireTime?: string; password?: string } = {}) {
  const created = await api.share.createShareLink({ parent: task, shareLink });
  return { ...created, code: codeOf(created.url) };
}

describe('share links over REST', () => {
  let w: Workspace;
  beforeAll(async () => {
    w = await workspace('main');
  }, 60_000);

  it('a member creates a link; anyone reads the task through it without an account; the code is shown once', async () => {
    const before = Date.now();
    const created = await share(w.member.api, w.task);
    expect(created.url).toMatch(/^https:\/\/share\.example\/v1\/shared\/[0-9A-Za-z]{22}$/);
    expect(created.shareLink).toMatchObject({ passwordProtected: false, openCount: 0, creator: w.member.user });
    expect(created.shareLink!.name).toMatch(new RegExp(`^${w.task}/shareLinks/[0-9a-f-]{36}$`));
    const expires = Date.parse(created.shareLink!.expireTime!);
    expect(expires - before).toBeGreaterThanOrEqual(7 * DAY - 1000);
    expect(expires - before).toBeLessThan(7 * DAY + 60_000);

    const read = await publicCall('GET', `/v1/shared/${created.code}`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual({
      task: {
        title: 'Ship it',
        description: 'All of it',
        status: 'TASK_STATUS_TODO',
        priority: 'PRIORITY_HIGH',
        dueTime: '2027-01-15T10:00:00Z',
        labels: ['launch'],
        boardDisplayName: 'Roadmap',
        listDisplayName: 'Doing',
      },
      expireTime: created.shareLink!.expireTime,
    });
    // No member addresses, user names or resource names in the public view.
    for (const secret of [w.member.email, w.owner.email, w.member.user, w.org]) expect(read.text).not.toContain(secret);

    const listed = await w.owner.api.share.listShareLinks({ parent: w.task });
    expect(listed.shareLinks.map((l) => l.name)).toEqual([created.shareLink!.name]);
    expect(listed.shareLinks[0]!.openCount).toBe(1);
    expect(JSON.stringify(listed)).not.toContain(created.code);
  });

  it('the audit log records the creation and every opening, without the code', async () => {
    const created = await share(w.owner.api, w.task);
    await publicCall('GET', `/v1/shared/${created.code}`);
    const entries = await eventually(async () => {
      const res = await w.owner.api.audit.listAuditEvents({ parent: w.org, resource: created.shareLink!.name });
      return res.auditEvents.length === 2 && res.auditEvents;
    }, 'two audit entries for the link');
    expect(entries.map((e) => [e.eventType, e.actor])).toEqual([
      ['taskmesh.share.v1.ShareLinkOpened', ''],
      ['taskmesh.share.v1.ShareLinkCreated', w.owner.user],
    ]);
    expect(JSON.stringify(entries)).not.toContain(created.code);
  });

  it('a viewer may not create, list or revoke links (403); another org\'s members get 404 as for a missing task', async () => {
    const link = await share(w.owner.api, w.task);
    expect((await apiError(w.viewer.api.share.createShareLink({ parent: w.task, shareLink: {} }))).httpStatus).toBe(403);
    expect((await apiError(w.viewer.api.share.listShareLinks({ parent: w.task }))).httpStatus).toBe(403);
    expect((await apiError(w.viewer.api.share.deleteShareLink({ name: link.shareLink!.name }))).httpStatus).toBe(403);

    const other = await workspace('other');
    const missingTask = `${w.board}/tasks/00000000-0000-4000-8000-000000000000`;
    for (const call of [
      () => other.owner.api.share.createShareLink({ parent: w.task, shareLink: {} }),
      () => other.owner.api.share.listShareLinks({ parent: w.task }),
      () => other.owner.api.share.deleteShareLink({ name: link.shareLink!.name }),
    ]) {
      const err = await apiError(call());
      expect([err.httpStatus, err.code]).toEqual([404, Code.NOT_FOUND]);
      expect(err.message).not.toContain('Ship it');
    }
    // Inside the org, a missing task is a 404 too.
    expect((await apiError(w.member.api.share.createShareLink({ parent: missingTask, shareLink: {} }))).httpStatus).toBe(404);
    // The other org's own link still works, and theirs cannot be listed from here.
    const theirs = await share(other.member.api, other.task);
    expect((await publicCall('GET', `/v1/shared/${theirs.code}`)).status).toBe(200);
    expect((await apiError(w.owner.api.share.listShareLinks({ parent: other.task }))).httpStatus).toBe(404);
  }, 60_000);

  it('refuses an expiry in the past or beyond 90 days, and a link stops working when it expires', async () => {
    for (const expireTime of [new Date(Date.now() - 1000).toISOString(), new Date(Date.now() + 91 * DAY).toISOString()]) {
      const err = await apiError(w.member.api.share.createShareLink({ parent: w.task, shareLink: { expireTime } }));
      expect([err.httpStatus, err.code]).toEqual([400, Code.INVALID_ARGUMENT]);
    }
    const ninety = await share(w.member.api, w.task, { expireTime: new Date(Date.now() + 90 * DAY).toISOString() });
    expect((await publicCall('GET', `/v1/shared/${ninety.code}`)).status).toBe(200);

    const soon = await share(w.member.api, w.task, { expireTime: new Date(Date.now() + 1500).toISOString() });
    expect((await publicCall('GET', `/v1/shared/${soon.code}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1700));
    const expired = await publicCall('GET', `/v1/shared/${soon.code}`);
    const unknown = await publicCall('GET', `/v1/shared/${'Z'.repeat(22)}`);
    const malformed = await publicCall('GET', '/v1/shared/not-a-code');
    expect([expired.status, unknown.status, malformed.status]).toEqual([404, 404, 404]);
    expect(expired.text).toBe(unknown.text);
    expect(malformed.text).toBe(unknown.text);
    expect((await w.member.api.share.listShareLinks({ parent: w.task })).shareLinks.map((l) => l.name)).not.toContain(soon.shareLink!.name);
  });

  it('a revoked link answers 404 like an unknown code, and cannot be revoked twice', async () => {
    const link = await share(w.member.api, w.task);
    await w.member.api.share.deleteShareLink({ name: link.shareLink!.name });
    const revoked = await publicCall('GET', `/v1/shared/${link.code}`);
    expect(revoked.status).toBe(404);
    expect(revoked.text).toBe((await publicCall('GET', `/v1/shared/${'Y'.repeat(22)}`)).text);
    expect((await apiError(w.member.api.share.deleteShareLink({ name: link.shareLink!.name }))).httpStatus).toBe(404);
    expect((await w.owner.api.share.listShareLinks({ parent: w.task })).shareLinks.map((l) => l.name)).not.toContain(link.shareLink!.name);
  });

  it('follows the task, its board and its list as they change', async () => {
    const link = await share(w.member.api, w.task);
    await w.owner.api.task.updateTask({ task: { name: w.task, title: 'Ship it now', status: 'TASK_STATUS_IN_PROGRESS' }, updateMask: 'title,status' });
    await w.owner.api.board.updateBoard({ board: { name: w.board, displayName: 'Roadmap 2027' }, updateMask: 'displayName' });
    const done = (await w.owner.api.board.createList({ parent: w.board, list: { displayName: 'Done' } })).list!.name;
    await w.owner.api.task.moveTask({ name: w.task, list: done });
    const view = await eventually(async () => {
      const res = await publicCall('GET', `/v1/shared/${link.code}`);
      const t = res.json?.task;
      return t?.title === 'Ship it now' && t.boardDisplayName === 'Roadmap 2027' && t.listDisplayName === 'Done' && t;
    }, 'the shared view to follow the changes');
    expect(view.status).toBe('TASK_STATUS_IN_PROGRESS');
  });

  it('a password-protected link asks for the password (401 SHARE_PASSWORD_REQUIRED) and opens with it', async () => {
    const link = await share(w.member.api, w.task, { password: 'open sesame' });
    expect(link.shareLink!.passwordProtected).toBe(true);
    expect(JSON.stringify(link.shareLink)).not.toContain('open sesame');
    const asked = await publicCall('GET', `/v1/shared/${link.code}`);
    expect([asked.status, reasonOf(asked.json)]).toEqual([401, 'SHARE_PASSWORD_REQUIRED']);
    const wrong = await publicCall('POST', `/v1/shared/${link.code}:open`, { password: 'open barley' });
    expect([wrong.status, reasonOf(wrong.json)]).toEqual([401, 'SHARE_PASSWORD_INVALID']);
    const opened = await publicCall('POST', `/v1/shared/${link.code}:open`, { password: 'open sesame' });
    expect(opened.status).toBe(200);
    expect(opened.json.task.title).toMatch(/^Ship it/);
    const short = await apiError(w.member.api.share.createShareLink({ parent: w.task, shareLink: { password: 'short' } }));
    expect(short.httpStatus).toBe(400);
  });

  it('throttles wrong passwords per link and per address with 429 and Retry-After, even for the right password', async () => {
    // The previous test spent one wrong password from this address; the address allows 5, each link 3.
    const a = await share(w.member.api, w.task, { password: 'password A' });
    const b = await share(w.member.api, w.task, { password: 'password B' });
    for (let i = 0; i < 3; i++) expect((await publicCall('POST', `/v1/shared/${a.code}:open`, { password: 'guess' })).status).toBe(401);
    const perCode = await publicCall('POST', `/v1/shared/${a.code}:open`, { password: 'password A' });
    expect([perCode.status, reasonOf(perCode.json)]).toEqual([429, 'SHARE_OPEN_THROTTLED']);
    expect(Number(perCode.headers.get('retry-after'))).toBeGreaterThan(0);
    // Link B has one failure of its own; the address reaches its 5 with it.
    expect((await publicCall('POST', `/v1/shared/${b.code}:open`, { password: 'guess' })).status).toBe(401);
    const perAddress = await publicCall('POST', `/v1/shared/${b.code}:open`, { password: 'password B' });
    expect(perAddress.status).toBe(429);
    expect(Number(perAddress.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('links of a deleted task, and of a deleted organization, answer 404', async () => {
    const gone = await workspace('gone');
    const second = (await gone.owner.api.task.createTask({ parent: gone.board, task: { list: gone.list, title: 'Second' } })).task!.name;
    const ofTask = await share(gone.owner.api, gone.task);
    const ofOrg = await share(gone.owner.api, second);
    await gone.owner.api.task.deleteTask({ name: gone.task });
    await eventually(async () => (await publicCall('GET', `/v1/shared/${ofTask.code}`)).status === 404, 'the deleted task\'s link to answer 404');
    expect((await apiError(gone.owner.api.share.createShareLink({ parent: gone.task, shareLink: {} }))).httpStatus).toBe(404);
    expect((await publicCall('GET', `/v1/shared/${ofOrg.code}`)).status).toBe(200);
    await gone.owner.api.org.deleteOrganization({ name: gone.org });
    await eventually(async () => (await publicCall('GET', `/v1/shared/${ofOrg.code}`)).status === 404, 'the deleted org\'s link to answer 404');
  }, 60_000);
});

describe('share links over gRPC', () => {
  it('serves the public read without a token, and refuses the management calls without one', async () => {
    const w = await workspace('grpc');
    const link = await share(w.member.api, w.task);
    const client = new ShareServiceClient(stack.services[SHARE_SERVICE_NAME]!, credentials.createInsecure());
    try {
      const view = await callUnary(client, client.getSharedTask, { code: link.code });
      expect(view.task).toMatchObject({ title: 'Ship it', boardDisplayName: 'Roadmap', listDisplayName: 'Doing', labels: ['launch'] });
      const unauthenticated = await callUnary(client, client.listShareLinks, { parent: w.task, pageSize: 0, pageToken: '' }).catch((e: ServiceError) => e);
      expect((unauthenticated as ServiceError).code).toBe(status.UNAUTHENTICATED);
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${w.viewer.token}`);
      const denied = await callUnary(client, client.createShareLink, { parent: w.task, requestId: '' }, { metadata }).catch((e: ServiceError) => e);
      expect((denied as ServiceError).code).toBe(status.PERMISSION_DENIED);
      const other = await signUpAs(stack.url, 'grpc-stranger');
      const strangerMetadata = new Metadata();
      strangerMetadata.set('authorization', `Bearer ${other.token}`);
      const hidden = await callUnary(client, client.listShareLinks, { parent: w.task, pageSize: 0, pageToken: '' }, { metadata: strangerMetadata }).catch((e: ServiceError) => e);
      expect((hidden as ServiceError).code).toBe(status.NOT_FOUND);
    } finally {
      client.close();
    }
  }, 60_000);
});
