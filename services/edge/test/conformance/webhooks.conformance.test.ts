import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, restApi, uniqueEmail } from './rest-api.ts';
import type { RestApi } from './rest-api.ts';
import { startConformanceTarget } from './target.ts';
import type { ConformanceTarget } from './target.ts';

// The webhook API over plain HTTP, as API.md § "Sharing, attachments, webhooks, API tokens" describes it.
// Registration needs an endpoint the target may reach: a self-started stack allows this suite's loopback
// receiver (WEBHOOK_ALLOWED_HOSTS); against an external target (TASKMESH_BASE_URL) only the refusals run.

const local = !process.env.TASKMESH_BASE_URL?.trim();
let target: ConformanceTarget;
let api: RestApi;
let receiver: Server;
let receiverUrl = '';

interface Account {
  email: string;
  accessToken: string;
}

async function signUp(label: string): Promise<Account> {
  const email = uniqueEmail(label);
  const response = await api.post('/v1/auth:signUp', { email, password: 'correct horse battery', displayName: label });
  expect(response.status, response.text).toBe(200);
  return { email, accessToken: response.json.accessToken };
}

async function ok<T = any>(promise: Promise<{ status: number; text: string; json: any }>): Promise<T> {
  const response = await promise;
  expect(response.status, response.text).toBe(200);
  return response.json as T;
}

let owner: Account;
let member: Account;
let outsider: Account;
let org: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as { port: number }).port;
  receiverUrl = `http://127.0.0.1:${port}/hook`;
  target = await startConformanceTarget({ WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${port}` });
  api = restApi(target.baseUrl);
  [owner, member, outsider] = await Promise.all([signUp('hook-owner'), signUp('hook-member'), signUp('hook-outsider')]);
  org = (await ok(api.post('/v1/organizations', { displayName: 'Hooks Inc' }, { token: owner.accessToken }))).organization.name;
  const invited = await ok(api.post(`/v1/${org}/invitations`, { email: member.email, role: 'ROLE_MEMBER' }, { token: owner.accessToken }));
  await ok(api.post('/v1/invitations:accept', { token: invited.token }, { token: member.accessToken }));
}, 120_000);

afterAll(async () => {
  await target?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

describe('webhook API', () => {
  it.skipIf(!local)('registers, reads, updates, tests, rotates the secret of, lists attempts of and deletes an endpoint', async () => {
    const created = await ok(
      api.post(`/v1/${org}/webhooks`, { url: receiverUrl, eventTypes: ['taskmesh.task.v1.TaskCreated'], description: 'ci' }, { token: owner.accessToken }),
    );
    expect(Object.keys(created).sort()).toEqual(['secret', 'webhook']);
    expect(created.secret).toMatch(/^whsec_/);
    expect(created.webhook).toMatchObject({ url: receiverUrl, eventTypes: ['taskmesh.task.v1.TaskCreated'], state: 'STATE_ACTIVE' });
    expect(created.webhook.name).toMatch(new RegExp(`^${org}/webhooks/[^/]+$`));
    expect(created.webhook.createTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const name = created.webhook.name as string;

    const listed = await ok(api.get(`/v1/${org}/webhooks`, { token: owner.accessToken }));
    expect(listed.webhooks.map((w: any) => w.name)).toContain(name);
    expect(listed.webhooks.find((w: any) => w.name === name).secret).toBeUndefined();
    expect((await ok(api.get(`/v1/${name}`, { token: owner.accessToken }))).webhook.name).toBe(name);

    const patched = await ok(api.patch(`/v1/${name}?updateMask=description,eventTypes`, { description: 'changed', eventTypes: [] }, { token: owner.accessToken }));
    expect(patched.webhook).toMatchObject({ description: 'changed', eventTypes: [] });

    const tested = await ok(api.post(`/v1/${name}:test`, {}, { token: owner.accessToken }));
    expect(tested.delivery).toMatchObject({ attempt: 1, httpStatus: 204, state: 'STATE_SUCCEEDED' });
    const rotated = await ok(api.post(`/v1/${name}:rotateSecret`, {}, { token: owner.accessToken }));
    expect(Object.keys(rotated).sort()).toEqual(['secret', 'webhook']);
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.webhook.name).toBe(name);
    expect(Date.parse(rotated.webhook.previousSecretExpireTime)).toBeGreaterThan(Date.now());
    const reread = await ok(api.get(`/v1/${name}`, { token: owner.accessToken }));
    expect(reread.webhook.previousSecretExpireTime).toBe(rotated.webhook.previousSecretExpireTime);
    expect(reread.webhook.secret).toBeUndefined();

    const deliveries = await ok(api.get(`/v1/${name}/deliveries`, { token: owner.accessToken }));
    const [first] = deliveries.deliveries;
    expect(Object.keys(first)).toEqual(expect.arrayContaining(['name', 'eventId', 'eventType', 'attempt', 'httpStatus', 'durationMs', 'deliverTime', 'state']));

    expect(await ok(api.delete(`/v1/${name}`, { token: owner.accessToken }))).toEqual({});
    const gone = await api.get(`/v1/${name}`, { token: owner.accessToken });
    expect(gone.status).toBe(404);
    expect(errorOf(gone).code).toBe(5);
  });

  it('refuses loopback, private and metadata URLs with 400 and a field violation on webhook.url', async () => {
    for (const url of ['https://127.0.0.1/h', 'https://10.0.0.1/h', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/h', 'https://[::ffff:10.0.0.1]/h']) {
      const response = await api.post(`/v1/${org}/webhooks`, { url }, { token: owner.accessToken });
      expect(response.status, url).toBe(400);
      const error = errorOf(response);
      expect(error.code).toBe(3);
      const violations = error.details.flatMap((d: any) => d.fieldViolations ?? []);
      expect(violations.map((v: any) => v.field)).toContain('webhook.url');
    }
  });

  it('answers 403 to a MEMBER and 404 to a non-member', async () => {
    const url = local ? receiverUrl : 'https://127.0.0.1/h';
    expect((await api.post(`/v1/${org}/webhooks`, { url }, { token: member.accessToken })).status).toBe(403);
    expect((await api.get(`/v1/${org}/webhooks`, { token: member.accessToken })).status).toBe(403);
    expect((await api.get(`/v1/${org}/webhooks`, { token: outsider.accessToken })).status).toBe(404);
    const hook = `${org}/webhooks/00000000-0000-4000-8000-000000000000`;
    expect((await api.post(`/v1/${hook}:rotateSecret`, {}, { token: member.accessToken })).status).toBe(403);
    expect((await api.post(`/v1/${hook}:rotateSecret`, {}, { token: outsider.accessToken })).status).toBe(404);
    expect((await api.get(`/v1/${org}/webhooks`)).status).toBe(401);
  });
});
