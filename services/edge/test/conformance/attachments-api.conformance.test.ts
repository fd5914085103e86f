import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, restApi, uniqueEmail } from './rest-api.ts';
import type { RestApi } from './rest-api.ts';
import { startConformanceTarget } from './target.ts';
import type { ConformanceTarget } from './target.ts';

// The attachment routes of API.md ("Sharing, attachments, webhooks, API tokens") over plain HTTP: shapes,
// the presigned upload and download, paging, request ids and error statuses. Same target rules as
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
let viewer: Account;
let outsider: Account;
let task: string;

beforeAll(async () => {
  target = await startConformanceTarget();
  api = restApi(target.baseUrl);
  [owner, viewer, outsider] = await Promise.all([signUp('owner'), signUp('viewer'), signUp('outsider')]);
  const org = (await ok(api.post('/v1/organizations', { displayName: 'Attachments Inc' }, { token: owner.accessToken }))).organization.name;
  const invited = await ok(api.post(`/v1/${org}/invitations`, { email: viewer.email, role: 'ROLE_VIEWER' }, { token: owner.accessToken }));
  await ok(api.post('/v1/invitations:accept', { token: invited.token }, { token: viewer.accessToken }));
  const board = (await ok(api.post(`/v1/${org}/boards`, { displayName: 'Files' }, { token: owner.accessToken }))).board.name;
  const list = (await ok(api.post(`/v1/${board}/lists`, { displayName: 'To do' }, { token: owner.accessToken }))).list.name;
  task = (await ok(api.post(`/v1/${board}/tasks`, { list, title: 'With files', priority: 'PRIORITY_MEDIUM' }, { token: owner.accessToken }))).task.name;
}, 120_000);

afterAll(async () => {
  await target?.close();
});

const bytes = new TextEncoder().encode('%PDF-1.7 conformance\n');
const declare = (filename: string, query = '') =>
  api.post(`/v1/${task}/attachments${query}`, { filename, contentType: 'application/pdf', sizeBytes: String(bytes.length) }, { token: owner.accessToken });

describe('attachments over REST', () => {
  it('POST T/attachments → PUT uploadUrl → POST A:complete → GET A with a download URL', async () => {
    const created = await ok(declare('spec.pdf'));
    expect(Object.keys(created).sort()).toEqual(['attachment', 'expireTime', 'uploadHeaders', 'uploadUrl']);
    expect(created.attachment).toMatchObject({
      filename: 'spec.pdf',
      contentType: 'application/pdf',
      sizeBytes: String(bytes.length),
      state: 'STATE_PENDING',
      creator: owner.user.name,
    });
    expect(created.attachment.name).toMatch(new RegExp(`^${task}/attachments/[^/]+$`));
    expect(Number.isNaN(Date.parse(created.attachment.createTime))).toBe(false);
    expect(Number.isNaN(Date.parse(created.expireTime))).toBe(false);

    const put = await fetch(created.uploadUrl, { method: 'PUT', headers: created.uploadHeaders, body: bytes });
    expect(put.status).toBe(200);
    const completed = await ok(api.post(`/v1/${created.attachment.name}:complete`, {}, { token: owner.accessToken }));
    expect(completed.attachment).toMatchObject({ name: created.attachment.name, state: 'STATE_READY' });

    const got = await ok(api.get(`/v1/${created.attachment.name}`, { token: viewer.accessToken }));
    expect(Object.keys(got).sort()).toEqual(['attachment', 'downloadUrl', 'expireTime']);
    const download = await fetch(got.downloadUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="spec\.pdf"/);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);

    expect(await ok(api.delete(`/v1/${created.attachment.name}`, { token: owner.accessToken }))).toEqual({});
    expect(errorOf(await api.get(`/v1/${created.attachment.name}`, { token: owner.accessToken })).code).toBe(5);
  });

  it('lists with pageSize/pageToken, oldest first, and repeats a create retried with the same requestId', async () => {
    const requestId = crypto.randomUUID();
    const first = (await ok(declare('a.pdf', `?requestId=${requestId}`))).attachment;
    const retried = (await ok(declare('a.pdf', `?requestId=${requestId}`))).attachment;
    expect(retried.name).toBe(first.name);
    const second = (await ok(declare('b.pdf'))).attachment;
    const page1 = await ok(api.get(`/v1/${task}/attachments?pageSize=1`, { token: viewer.accessToken }));
    expect(page1.attachments.map((a: { name: string }) => a.name)).toEqual([first.name]);
    expect(page1.nextPageToken).not.toBe('');
    const page2 = await ok(api.get(`/v1/${task}/attachments?pageSize=1&pageToken=${encodeURIComponent(page1.nextPageToken)}`, { token: viewer.accessToken }));
    expect(page2.attachments.map((a: { name: string }) => a.name)).toEqual([second.name]);
    const negative = await api.get(`/v1/${task}/attachments?pageSize=-1`, { token: viewer.accessToken });
    expect([negative.status, errorOf(negative).code]).toEqual([400, 3]);
  });

  it('answers 400, 401, 403 and 404 with google.rpc.Status bodies', async () => {
    const noName = await api.post(`/v1/${task}/attachments`, { contentType: 'application/pdf', sizeBytes: '1' }, { token: owner.accessToken });
    expect([noName.status, errorOf(noName).code]).toEqual([400, 3]);
    const pending = (await ok(declare('never-uploaded.pdf'))).attachment.name;
    const incomplete = await api.post(`/v1/${pending}:complete`, {}, { token: owner.accessToken });
    expect([incomplete.status, errorOf(incomplete).code]).toEqual([400, 9]);
    const anonymous = await api.get(`/v1/${task}/attachments`);
    expect([anonymous.status, errorOf(anonymous).code]).toEqual([401, 16]);
    const byViewer = await api.post(`/v1/${task}/attachments`, { filename: 'x.pdf', contentType: 'application/pdf', sizeBytes: '1' }, { token: viewer.accessToken });
    expect([byViewer.status, errorOf(byViewer).code]).toEqual([403, 7]);
    const byOutsider = await api.get(`/v1/${pending}`, { token: outsider.accessToken });
    expect([byOutsider.status, errorOf(byOutsider).code]).toEqual([404, 5]);
  });
});
