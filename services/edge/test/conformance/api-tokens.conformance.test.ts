import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { errorOf, restApi, uniqueEmail } from './rest-api.ts';
import type { RestApi } from './rest-api.ts';
import { startConformanceTarget } from './target.ts';
import type { ConformanceTarget } from './target.ts';

// API tokens (issue 14 §4) over REST, as API.md's "API tokens" routes describe them: minted by OWNER/ADMIN
// with at most their own role, shown once, usable as `Authorization: Bearer tm_…` in their one org only,
// revoked within a second everywhere. A self-started stack carries its events over JetStream when NATS is up.

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let owner: Account;
let admin: Account;
let member: Account;
let outsider: Account;
let org: string;
let otherOrg: string;

async function join(account: Account, role: string) {
  const invited = await ok(api.post(`/v1/${org}/invitations`, { email: account.email, role }, { token: owner.accessToken }));
  await ok(api.post('/v1/invitations:accept', { token: invited.token }, { token: account.accessToken }));
}

async function mint(role: string, by: Account = owner, extra: Record<string, unknown> = {}) {
  return ok<{ apiToken: any; token: string }>(api.post(`/v1/${org}/apiTokens`, { displayName: `ci ${role}`, role, ...extra }, { token: by.accessToken }));
}

beforeAll(async () => {
  const natsUrl = await natsForTests();
  const streams = uniqueStreamSettings();
  target = await startConformanceTarget(
    natsUrl
      ? { NATS_URL: natsUrl, EVENTS_STREAM: streams.stream, EVENTS_SUBJECT_PREFIX: streams.subjectPrefix, EVENTS_STREAM_MAX_BYTES: String(streams.maxBytes) }
      : {},
  );
  api = restApi(target.baseUrl);
  [owner, admin, member, outsider] = await Promise.all([signUp('tok-owner'), signUp('tok-admin'), signUp('tok-member'), signUp('tok-outsider')]);
  org = (await ok(api.post('/v1/organizations', { displayName: 'Tokens Inc' }, { token: owner.accessToken }))).organization.name;
  otherOrg = (await ok(api.post('/v1/organizations', { displayName: 'Elsewhere Ltd' }, { token: outsider.accessToken }))).organization.name;
  await join(admin, 'ROLE_ADMIN');
  await join(member, 'ROLE_MEMBER');
}, 120_000);

afterAll(async () => {
  await target?.close();
});

describe('API tokens', () => {
  it('mints a tm_ token with at least 256 random bits, shown once, and lists it without the secret', async () => {
    const { apiToken, token } = await mint('ROLE_MEMBER', owner, { expireTime: new Date(Date.now() + 86_400_000).toISOString() });
    expect(token).toMatch(/^tm_[A-Za-z0-9_-]{64}$/);
    expect(apiToken.name).toMatch(new RegExp(`^${org}/apiTokens/[0-9a-f-]{36}$`));
    expect(apiToken.role).toBe('ROLE_MEMBER');
    expect(apiToken.creator).toBe(owner.user.name);
    const listed = await api.get(`/v1/${org}/apiTokens`, { token: owner.accessToken });
    expect(listed.status).toBe(200);
    expect((listed.json as any).apiTokens.map((t: any) => t.name)).toContain(apiToken.name);
    expect(listed.text).not.toContain(token);
    expect(listed.text).not.toContain(token.slice(3));
  });

  it('keeps the role ceiling: an ADMIN cannot mint OWNER, a MEMBER cannot mint at all', async () => {
    const adminOwner = await api.post(`/v1/${org}/apiTokens`, { displayName: 'too high', role: 'ROLE_OWNER' }, { token: admin.accessToken });
    expect(adminOwner.status).toBe(403);
    expect((await mint('ROLE_ADMIN', admin)).apiToken.role).toBe('ROLE_ADMIN');
    const byMember = await api.post(`/v1/${org}/apiTokens`, { displayName: 'nope', role: 'ROLE_VIEWER' }, { token: member.accessToken });
    expect(byMember.status).toBe(403);
    const list = await api.get(`/v1/${org}/apiTokens`, { token: member.accessToken });
    expect(list.status).toBe(403);
  });

  it('rejects a missing role, a past expiry and one beyond a year with 400', async () => {
    for (const body of [
      { displayName: 'x' },
      { displayName: 'x', role: 'ROLE_MEMBER', expireTime: new Date(Date.now() - 1_000).toISOString() },
      { displayName: 'x', role: 'ROLE_MEMBER', expireTime: new Date(Date.now() + 400 * 86_400_000).toISOString() },
    ]) {
      const response = await api.post(`/v1/${org}/apiTokens`, body, { token: owner.accessToken });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(errorOf(response).code).toBe(3);
    }
  });

  it('acts as a member of its org: creates a board, a list and a task; the audit log names the token', async () => {
    const { apiToken, token } = await mint('ROLE_ADMIN');
    const board = (await ok(api.post(`/v1/${org}/boards`, { displayName: 'Made by a token' }, { token }))).board;
    const list = (await ok(api.post(`/v1/${board.name}/lists`, { displayName: 'Inbox' }, { token }))).list;
    const task = (await ok(api.post(`/v1/${board.name}/tasks`, { list: list.name, title: 'from CI', priority: 'PRIORITY_MEDIUM' }, { token }))).task;
    expect(task.name).toMatch(new RegExp(`^${board.name}/tasks/`));
    let entry: any;
    for (let i = 0; i < 100 && !entry; i++) {
      const events = await ok(api.get(`/v1/${org}/auditEvents`, { token: owner.accessToken }));
      entry = events.auditEvents.find((e: any) => e.resource === board.name && e.eventType === 'taskmesh.board.v1.BoardCreated');
      if (!entry) await sleep(100);
    }
    expect(entry?.actor).toBe(apiToken.name);
    const listed = await ok(api.get(`/v1/${org}/apiTokens`, { token: owner.accessToken }));
    const mine = listed.apiTokens.find((t: any) => t.name === apiToken.name);
    expect(Date.parse(mine.lastUseTime)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('a VIEWER token reads but cannot create a board', async () => {
    const { token } = await mint('ROLE_VIEWER');
    expect((await api.get(`/v1/${org}/boards`, { token })).status).toBe(200);
    expect((await api.post(`/v1/${org}/boards`, { displayName: 'no' }, { token })).status).toBe(403);
  });

  it('never reaches another org, and does not reveal whether it exists', async () => {
    const { token } = await mint('ROLE_OWNER');
    const other = await api.get(`/v1/${otherOrg}/boards`, { token });
    const unknown = await api.get(`/v1/organizations/${crypto.randomUUID()}/boards`, { token });
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(errorOf(other).code).toBe(errorOf(unknown).code);
    expect((await api.get(`/v1/${otherOrg}`, { token })).status).toBe(404);
    expect((await api.get(`/v1/${otherOrg}/apiTokens`, { token })).status).toBe(404);
  });

  it('is refused on account routes: /v1/users/me → 401, creating or listing organizations → 403', async () => {
    const { token } = await mint('ROLE_OWNER');
    expect((await api.get('/v1/users/me', { token })).status).toBe(401);
    expect((await api.post('/v1/auth:logOutEverywhere', {}, { token })).status).toBe(401);
    expect((await api.post('/v1/organizations', { displayName: 'sneaky' }, { token })).status).toBe(403);
    expect((await api.get('/v1/organizations', { token })).status).toBe(403);
  });

  it('an unknown or malformed tm_ token → 401', async () => {
    const fake = `tm_${Buffer.alloc(48, 7).toString('base64url')}`;
    expect((await api.get(`/v1/${org}/boards`, { token: fake })).status).toBe(401);
    expect((await api.get(`/v1/${org}/boards`, { token: 'tm_short' })).status).toBe(401);
  });

  it('an expired token → 401', async () => {
    const { token } = await mint('ROLE_MEMBER', owner, { expireTime: new Date(Date.now() + 1_500).toISOString() });
    expect((await api.get(`/v1/${org}/boards`, { token })).status).toBe(200);
    await sleep(2_600);
    const response = await api.get(`/v1/${org}/boards`, { token });
    expect(response.status).toBe(401);
    expect(errorOf(response).code).toBe(16);
  });

  it('a revoked token → 401 within 1 s in the board and task services, and leaves the list', async () => {
    const { apiToken, token } = await mint('ROLE_ADMIN');
    const board = (await ok(api.post(`/v1/${org}/boards`, { displayName: 'Soon revoked' }, { token }))).board;
    expect((await api.get(`/v1/${board.name}/tasks`, { token })).status).toBe(200);
    await ok(api.delete(`/v1/${apiToken.name}`, { token: owner.accessToken }));
    await sleep(1_000);
    expect((await api.get(`/v1/${board.name}`, { token })).status).toBe(401);
    expect((await api.get(`/v1/${board.name}/tasks`, { token })).status).toBe(401);
    expect((await api.get(`/v1/${org}/auditEvents`, { token })).status).toBe(401);
    const listed = await ok(api.get(`/v1/${org}/apiTokens`, { token: owner.accessToken }));
    expect(listed.apiTokens.map((t: any) => t.name)).not.toContain(apiToken.name);
    expect((await api.delete(`/v1/${apiToken.name}`, { token: owner.accessToken })).status).toBe(404);
  });

  it('a creator demoted below a token role loses that token; removed, all of theirs, within 1 s', async () => {
    const creator = await signUp('tok-creator');
    await join(creator, 'ROLE_ADMIN');
    const adminToken = await mint('ROLE_ADMIN', creator);
    const memberToken = await mint('ROLE_MEMBER', creator);
    const ownersToken = await mint('ROLE_ADMIN', owner);
    for (const { token } of [adminToken, memberToken]) expect((await api.get(`/v1/${org}/boards`, { token })).status).toBe(200);
    const memberName = `${org}/members/${creator.user.name.slice('users/'.length)}`;
    const members = await ok(api.get(`/v1/${org}/members?pageSize=100`, { token: owner.accessToken }));
    const member = members.members.find((m: any) => m.name === memberName);
    await ok(api.patch(`/v1/${memberName}?updateMask=role`, { role: 'ROLE_MEMBER', etag: member.etag }, { token: owner.accessToken }));
    await sleep(1_000);
    // Above the new role: revoked (the audit log says by whom); at or below it: kept. Other creators' untouched.
    expect((await api.get(`/v1/${org}/boards`, { token: adminToken.token })).status).toBe(401);
    expect((await api.get(`/v1/${org}/boards`, { token: memberToken.token })).status).toBe(200);
    expect((await api.get(`/v1/${org}/boards`, { token: ownersToken.token })).status).toBe(200);
    await ok(api.delete(`/v1/${memberName}`, { token: owner.accessToken }));
    await sleep(1_000);
    expect((await api.get(`/v1/${org}/boards`, { token: memberToken.token })).status).toBe(401);
    expect((await api.get(`/v1/${org}/boards`, { token: ownersToken.token })).status).toBe(200);
    const listed = await ok(api.get(`/v1/${org}/apiTokens?pageSize=100`, { token: owner.accessToken }));
    expect(listed.apiTokens.map((t: any) => t.name)).not.toContain(memberToken.apiToken.name);
    if (target.local) {
      const revocations = async () =>
        (await ok(api.get(`/v1/${org}/auditEvents?pageSize=100`, { token: owner.accessToken }))).auditEvents.filter(
          (e: any) => e.eventType === 'taskmesh.org.v1.ApiTokenRevoked' && [adminToken.apiToken.name, memberToken.apiToken.name].includes(e.resource),
        );
      for (let i = 0; i < 50 && (await revocations()).length < 2; i++) await sleep(200);
      expect((await revocations()).map((e: any) => e.actor)).toEqual([owner.user.name, owner.user.name]);
    }
  });
});
