import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { verifyStandardWebhook } from './standard-webhooks.ts';

/**
 * Webhooks end to end over REST, on real PostgreSQL and (when available) real JetStream: registration and
 * its role and SSRF checks, signed deliveries of a task event to a real HTTP receiver on loopback (allowed
 * through WEBHOOK_ALLOWED_HOSTS), retries, the attempt log, disabling after the failure window, secret
 * rotation, isolation. Every service's log lines are kept (debug level) to check that no secret reaches them.
 */
const natsUrl = await natsForTests();

/** What the receiver got. */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

describe('webhooks over REST', () => {
  let stack: TestStack;
  let db: TestStack['db'];
  let receiver: Server;
  let receiverPort = 0;
  const received: Received[] = [];
  /** Status per path; a number list is consumed one answer per request (then 200). */
  const answers = new Map<string, number[] | number>();
  let counter = 0;
  const logLines: string[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const path = req.url ?? '/';
        received.push({ path, headers: req.headers, body });
        const plan = answers.get(path);
        const status = Array.isArray(plan) ? (plan.shift() ?? 200) : (plan ?? 200);
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverPort = (receiver.address() as { port: number }).port;
    stack = await startTestStack({
      services: ALL_SERVICES,
      front: edgeFront,
      ...(natsUrl ? { natsUrl } : {}),
      logger: (component) => pino({ level: 'debug', base: { service: component } }, { write: (line: string) => void logLines.push(line) }),
      overrides: {
        WEBHOOK_ALLOWED_HOSTS: `127.0.0.1:${receiverPort}`,
        WEBHOOK_RETRY_SCHEDULE: Array.from({ length: 40 }, () => '0.25').join(','),
        WEBHOOK_DISABLE_AFTER_SECONDS: '2',
        WEBHOOK_POLL_MS: '100',
      },
    });
    db = stack.db;
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  async function rest(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${stack.url}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  async function signUp(): Promise<{ token: string; email: string; user: string }> {
    const email = `hooks-${++counter}-${Date.now()}@example.com`;
    const res = await rest('POST', '/v1/auth:signUp', undefined, { email, password: 'correct horse battery', displayName: 'Hooks' });
    expect(res.status).toBe(200);
    return { token: res.json.accessToken, email, user: res.json.user.name };
  }

  async function orgOf(token: string): Promise<string> {
    const res = await rest('POST', '/v1/organizations', token, { displayName: `Hooks ${counter}` });
    expect(res.status).toBe(200);
    return res.json.organization.name;
  }

  const hookUrl = (path: string) => `http://127.0.0.1:${receiverPort}${path}`;

  async function until<T>(what: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const value = await what();
      if (value !== undefined) return value;
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** A statement as the database's superuser (past RLS), with the webhook's id as $1. */
  async function asSuperuser(statement: string, webhook: string): Promise<any[]> {
    const admin = new pg.Client({ connectionString: db.databaseUrl });
    await admin.connect();
    try {
      return (await admin.query(statement, [webhook.split('/').pop()])).rows;
    } finally {
      await admin.end();
    }
  }

  /** Each delivery of the webhook: its state, and whether its finish time is its last attempt's (and later than its first). */
  const settlement = (webhook: string): Promise<{ state: string; at_last_attempt: boolean; after_first: boolean }[]> =>
    asSuperuser(
      `select d.state, coalesce(d.finish_time = max(a.deliver_time), false) as at_last_attempt,
              coalesce(d.finish_time > min(a.deliver_time), false) as after_first
       from webhook.deliveries d join webhook.delivery_attempts a on a.delivery_id = d.id
       where d.webhook_id = $1::uuid group by d.id`,
      webhook,
    );

  it('delivers a task created through REST, signed so an independent Standard Webhooks check verifies it', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const created = await rest('POST', `/v1/${org}/webhooks`, owner.token, {
      url: hookUrl('/created'),
      eventTypes: ['taskmesh.task.v1.TaskCreated'],
      description: 'CI',
    });
    expect(created.status).toBe(200);
    expect(created.json.secret).toMatch(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/);
    expect(Buffer.from(created.json.secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24);
    expect(created.json.webhook).toMatchObject({ url: hookUrl('/created'), eventTypes: ['taskmesh.task.v1.TaskCreated'], state: 'STATE_ACTIVE' });
    const webhook = created.json.webhook.name as string;
    // The secret is shown once: reads never carry it.
    const read = await rest('GET', `/v1/${webhook}`, owner.token);
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.json)).not.toContain(created.json.secret.slice(6));

    const board = (await rest('POST', `/v1/${org}/boards`, owner.token, { displayName: 'B' })).json.board.name;
    const list = (await rest('POST', `/v1/${board}/lists`, owner.token, { displayName: 'L' })).json.list.name;
    const task = await rest('POST', `/v1/${board}/tasks`, owner.token, { list, title: 'Ship webhooks', priority: 'PRIORITY_HIGH' });
    expect(task.status).toBe(200);

    const delivery = await until(() => received.find((r) => r.path === '/created'));
    expect(verifyStandardWebhook(created.json.secret, delivery.headers, delivery.body)).toBe(true);
    // A tampered body or another secret fails the same check (the check can fail).
    expect(verifyStandardWebhook(created.json.secret, delivery.headers, delivery.body.replace('Ship', 'Sink'))).toBe(false);
    expect(verifyStandardWebhook(`whsec_${Buffer.alloc(32, 7).toString('base64')}`, delivery.headers, delivery.body)).toBe(false);
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({
      type: 'taskmesh.task.v1.TaskCreated',
      organization: org,
      actor: owner.user,
      resource: task.json.task.name,
      data: { task: { title: 'Ship webhooks', priority: 'PRIORITY_HIGH' } },
    });
    expect(delivery.headers['webhook-id']).toBe(body.id);
    expect(delivery.headers['content-type']).toBe('application/json');
    // Only the subscribed type: board and list events were not sent to this endpoint.
    expect(received.filter((r) => r.path === '/created')).toHaveLength(1);

    const log = await until(async () => {
      const res = await rest('GET', `/v1/${webhook}/deliveries`, owner.token);
      return res.json.deliveries?.length ? res : undefined;
    });
    expect(log.json.deliveries[0]).toMatchObject({ eventId: body.id, eventType: 'taskmesh.task.v1.TaskCreated', attempt: 1, httpStatus: 200, state: 'STATE_SUCCEEDED' });
    expect(typeof log.json.deliveries[0].durationMs).toBe('number');
    expect(log.json.deliveries[0].name).toMatch(new RegExp(`^${webhook}/deliveries/`));
  });

  it('retries a delivery that got a 500, then logs the success as attempt 2', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    answers.set('/flaky', [500]);
    const webhook = (await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/flaky'), eventTypes: ['taskmesh.board.v1.BoardCreated'] })).json.webhook.name;
    await rest('POST', `/v1/${org}/boards`, owner.token, { displayName: 'Retry' });
    const log = await until(async () => {
      const res = await rest('GET', `/v1/${webhook}/deliveries`, owner.token);
      return res.json.deliveries?.length >= 2 ? res.json.deliveries : undefined;
    });
    expect(log.map((d: any) => [d.attempt, d.httpStatus, d.state])).toEqual([
      [2, 200, 'STATE_SUCCEEDED'],
      [1, 500, 'STATE_FAILED'],
    ]);
    const bodies = received.filter((r) => r.path === '/flaky');
    expect(bodies).toHaveLength(2);
    // A retry is the same message: same id, same body.
    expect(bodies[1]!.headers['webhook-id']).toBe(bodies[0]!.headers['webhook-id']);
    expect(bodies[1]!.body).toBe(bodies[0]!.body);
    expect((await rest('GET', `/v1/${webhook}`, owner.token)).json.webhook.state).toBe('STATE_ACTIVE');
    // Settled by the second attempt: its retention counts from then (not from the failed first attempt).
    expect(await settlement(webhook)).toEqual([{ state: 'SUCCEEDED', at_last_attempt: true, after_first: true }]);
  });

  it('disables an endpoint that keeps failing for the window, mails the owners, and audits it', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    answers.set('/down', 503);
    const webhook = (await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/down') })).json.webhook.name;
    await rest('POST', `/v1/${org}/boards`, owner.token, { displayName: 'Down' });
    const disabled = await until(async () => {
      const res = await rest('GET', `/v1/${webhook}`, owner.token);
      return res.json.webhook.state === 'STATE_DISABLED' ? res.json.webhook : undefined;
    }, 15_000);
    expect(disabled.state).toBe('STATE_DISABLED');
    const attempts = (await rest('GET', `/v1/${webhook}/deliveries`, owner.token)).json.deliveries;
    expect(attempts.length).toBeGreaterThan(2);
    expect(attempts.every((a: any) => a.httpStatus === 503 && a.state === 'STATE_FAILED')).toBe(true);
    const mail = await until(() => {
      const dir = join(db.dataDir, 'mail');
      let files: string[] = [];
      try {
        files = readdirSync(dir);
      } catch {
        return undefined;
      }
      return files.map((f) => readFileSync(join(dir, f), 'utf8')).find((m) => m.includes(owner.email) && m.includes('was disabled') && m.includes(hookUrl('/down')));
    });
    expect(mail).toBeDefined();
    const audit = await until(async () => {
      const res = await rest('GET', `/v1/${org}/auditEvents`, owner.token);
      const types = (res.json.auditEvents ?? []).map((e: any) => e.eventType);
      return types.includes('taskmesh.webhook.v1.WebhookDisabled') ? types : undefined;
    });
    expect(audit).toContain('taskmesh.webhook.v1.WebhookCreated');
    // Re-enabling through PATCH makes it active again.
    const enabled = await rest('PATCH', `/v1/${webhook}?updateMask=state`, owner.token, { state: 'STATE_ACTIVE' });
    expect(enabled.status).toBe(200);
    expect(enabled.json.webhook.state).toBe('STATE_ACTIVE');
  });

  it(':test sends a signed ping and answers with its attempt', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const created = (await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/ping') })).json;
    const res = await rest('POST', `/v1/${created.webhook.name}:test`, owner.token, {});
    expect(res.status).toBe(200);
    expect(res.json.delivery).toMatchObject({ eventType: 'taskmesh.webhook.v1.Ping', attempt: 1, httpStatus: 200, state: 'STATE_SUCCEEDED' });
    const ping = received.find((r) => r.path === '/ping')!;
    expect(verifyStandardWebhook(created.secret, ping.headers, ping.body)).toBe(true);
    expect(JSON.parse(ping.body)).toMatchObject({ type: 'taskmesh.webhook.v1.Ping', organization: org });
    // A ping is settled at once: finished when its only attempt was made.
    expect(await settlement(created.webhook.name)).toEqual([{ state: 'SUCCEEDED', at_last_attempt: true, after_first: false }]);
  });

  /** The webhook's stored secret columns, as the database holds them. */
  const storedSecrets = async (webhook: string): Promise<{ secret_sealed: string; previous_secret_sealed: string | null; previous_secret_expire_time: Date | null }> =>
    (await asSuperuser('select secret_sealed, previous_secret_sealed, previous_secret_expire_time from webhook.webhooks where id = $1::uuid', webhook))[0];

  /** The single signatures of a delivery's webhook-signature header, each as a header of its own. */
  const signaturesOf = (r: Received) => (r.headers['webhook-signature'] as string).split(' ').map((one) => ({ ...r.headers, 'webhook-signature': one }));

  it('rotates the signing secret: the new and the replaced one both sign for the grace period, then only the new one', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const admin = await signUp();
    const invitation = await rest('POST', `/v1/${org}/invitations`, owner.token, { email: admin.email, role: 'ROLE_ADMIN' });
    expect((await rest('POST', '/v1/invitations:accept', admin.token, { token: invitation.json.token })).status).toBe(200);
    const created = (await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/rotate'), eventTypes: ['taskmesh.board.v1.BoardCreated'] })).json;
    const webhook = created.webhook.name as string;
    const first = created.secret as string;
    expect(created.webhook.previousSecretExpireTime).toBeUndefined();

    const before = Date.now();
    const rotated = await rest('POST', `/v1/${webhook}:rotateSecret`, owner.token, {});
    expect(rotated.status).toBe(200);
    expect(Object.keys(rotated.json).sort()).toEqual(['secret', 'webhook']);
    const second = rotated.json.secret as string;
    expect(second).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(second).not.toBe(first);
    expect(rotated.json.webhook).toMatchObject({ name: webhook, url: hookUrl('/rotate'), state: 'STATE_ACTIVE' });
    // The default grace period: 24 h from the rotation.
    const expiry = Date.parse(rotated.json.webhook.previousSecretExpireTime);
    expect(expiry).toBeGreaterThanOrEqual(before + 24 * 3_600_000 - 1_000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 24 * 3_600_000 + 1_000);
    // Both stored sealed under the KEK (neither in the clear), the replaced one as it was.
    const stored = await storedSecrets(webhook);
    expect(stored.previous_secret_sealed).toMatch(/^v1\./);
    expect(stored.secret_sealed).toMatch(/^v1\./);
    for (const secret of [first, second]) expect(JSON.stringify(stored)).not.toContain(secret.slice(6));

    // An event delivery during the grace period carries two signatures: the new secret's, then the old one's.
    await rest('POST', `/v1/${org}/boards`, owner.token, { displayName: 'Rotated' });
    const delivery = await until(() => received.find((r) => r.path === '/rotate'));
    const [byNew, byOld] = signaturesOf(delivery);
    expect(signaturesOf(delivery)).toHaveLength(2);
    expect(verifyStandardWebhook(second, byNew!, delivery.body)).toBe(true);
    expect(verifyStandardWebhook(first, byOld!, delivery.body)).toBe(true);
    expect(verifyStandardWebhook(first, byNew!, delivery.body)).toBe(false);
    expect(verifyStandardWebhook(second, byOld!, delivery.body)).toBe(false);

    // Reads show when the old secret stops signing, never a secret.
    const read = await rest('GET', `/v1/${webhook}`, owner.token);
    expect(read.json.webhook.previousSecretExpireTime).toBe(rotated.json.webhook.previousSecretExpireTime);
    const listed = await rest('GET', `/v1/${org}/webhooks`, owner.token);
    for (const secret of [first, second]) expect(JSON.stringify([read.json, listed.json])).not.toContain(secret.slice(6));

    // An ADMIN rotates again inside the grace period: the first secret is dropped, only two sign.
    const again = await rest('POST', `/v1/${webhook}:rotateSecret`, admin.token, {});
    expect(again.status).toBe(200);
    const third = again.json.secret as string;
    expect((await rest('POST', `/v1/${webhook}:test`, owner.token, {})).json.delivery.state).toBe('STATE_SUCCEEDED');
    const ping = received.filter((r) => r.path === '/rotate').at(-1)!;
    const pingSignatures = signaturesOf(ping);
    expect(pingSignatures).toHaveLength(2);
    expect(verifyStandardWebhook(third, pingSignatures[0]!, ping.body)).toBe(true);
    expect(verifyStandardWebhook(second, pingSignatures[1]!, ping.body)).toBe(true);
    expect(verifyStandardWebhook(first, ping.headers, ping.body)).toBe(false);

    // The grace period ends (its stored end moved into the past): one signature, by the newest secret, and
    // the replaced secret is erased at that use.
    await asSuperuser(`update webhook.webhooks set previous_secret_expire_time = now() - interval '1 second' where id = $1::uuid`, webhook);
    expect((await rest('GET', `/v1/${webhook}`, owner.token)).json.webhook.previousSecretExpireTime).toBeUndefined();
    await rest('POST', `/v1/${org}/boards`, owner.token, { displayName: 'After grace' });
    const late = await until(() => received.find((r) => r.path === '/rotate' && r.body.includes('After grace')));
    expect(late.headers['webhook-signature']).not.toContain(' ');
    expect(verifyStandardWebhook(third, late.headers, late.body)).toBe(true);
    expect(verifyStandardWebhook(second, late.headers, late.body)).toBe(false);
    const erased = await until(async () => {
      const row = await storedSecrets(webhook);
      return row.previous_secret_sealed === null ? row : undefined;
    });
    expect(erased.previous_secret_expire_time!.getTime()).toBeLessThan(Date.now());

    // Audited once per rotation, with who did it; no secret in the log entries.
    const audit = await until(async () => {
      const res = await rest('GET', `/v1/${org}/auditEvents`, owner.token);
      const rotations = (res.json.auditEvents ?? []).filter((e: any) => e.eventType === 'taskmesh.webhook.v1.WebhookSecretRotated');
      return rotations.length === 2 ? res.json : undefined;
    });
    const rotations = audit.auditEvents.filter((e: any) => e.eventType === 'taskmesh.webhook.v1.WebhookSecretRotated');
    expect(rotations.map((e: any) => [e.resource, e.actor]).sort()).toEqual([[webhook, owner.user], [webhook, admin.user]].sort());
    // Nor in any service's log lines (the check would see one: the lines are there).
    expect(logLines.length).toBeGreaterThan(0);
    for (const secret of [first, second, third]) {
      expect(JSON.stringify(audit)).not.toContain(secret.slice(6));
      expect(logLines.some((line) => line.includes(secret.slice(6)))).toBe(false);
    }
  });

  it.each([
    ['loopback IPv4', 'https://127.0.0.1/hook'],
    ['private 10/8', 'https://10.1.2.3/hook'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['metadata over https', 'https://169.254.169.254/latest/meta-data/'],
    ['loopback IPv6', 'https://[::1]/hook'],
    ['IPv4-mapped loopback', 'https://[::ffff:127.0.0.1]/hook'],
    ['a hostname resolving to loopback', 'https://localhost/hook'],
    ['plain http to a public host', 'http://example.com/hook'],
    ['the allowed host on another port', `http://127.0.0.1:1/hook`],
  ])('refuses %s with 400 and creates nothing', async (_what, url) => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const res = await rest('POST', `/v1/${org}/webhooks`, owner.token, { url });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/webhook\.url/);
    expect(JSON.stringify(res.json)).not.toMatch(/at .*\.ts|select |insert /i);
    expect((await rest('GET', `/v1/${org}/webhooks`, owner.token)).json.webhooks ?? []).toEqual([]);
  });

  it('lets only OWNER and ADMIN manage webhooks, and hides them from other orgs', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const webhook = (await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/roles') })).json.webhook.name;
    const member = await signUp();
    const invitation = await rest('POST', `/v1/${org}/invitations`, owner.token, { email: member.email, role: 'ROLE_MEMBER' });
    expect(invitation.status).toBe(200);
    expect((await rest('POST', '/v1/invitations:accept', member.token, { token: invitation.json.token })).status).toBe(200);
    for (const [method, path, body] of [
      ['POST', `/v1/${org}/webhooks`, { url: hookUrl('/m') }],
      ['GET', `/v1/${org}/webhooks`, undefined],
      ['GET', `/v1/${webhook}`, undefined],
      ['PATCH', `/v1/${webhook}`, { description: 'x' }],
      ['DELETE', `/v1/${webhook}`, undefined],
      ['POST', `/v1/${webhook}:test`, {}],
      ['POST', `/v1/${webhook}:rotateSecret`, {}],
      ['GET', `/v1/${webhook}/deliveries`, undefined],
    ] as const) {
      expect((await rest(method, path, member.token, body)).status, `${method} ${path}`).toBe(403);
    }
    // An OWNER of another org gets 404 for this org's endpoint, as for one that does not exist.
    const stranger = await signUp();
    const otherOrg = await orgOf(stranger.token);
    expect((await rest('GET', `/v1/${webhook}`, stranger.token)).status).toBe(404);
    expect((await rest('GET', `/v1/${webhook}/deliveries`, stranger.token)).status).toBe(404);
    const foreign = webhook.replace(org, otherOrg);
    expect((await rest('GET', `/v1/${foreign}`, stranger.token)).status).toBe(404);
    expect((await rest('DELETE', `/v1/${foreign}`, stranger.token)).status).toBe(404);
    expect((await rest('POST', `/v1/${webhook}:rotateSecret`, stranger.token, {})).status).toBe(404);
    expect((await rest('POST', `/v1/${foreign}:rotateSecret`, stranger.token, {})).status).toBe(404);
    expect((await rest('GET', `/v1/${otherOrg}/webhooks`, stranger.token)).json.webhooks ?? []).toEqual([]);
    // The owner deletes it; it is gone, and the deletion is audited.
    expect((await rest('DELETE', `/v1/${webhook}`, owner.token)).status).toBe(200);
    expect((await rest('GET', `/v1/${webhook}`, owner.token)).status).toBe(404);
    await until(async () => {
      const res = await rest('GET', `/v1/${org}/auditEvents`, owner.token);
      return (res.json.auditEvents ?? []).some((e: any) => e.eventType === 'taskmesh.webhook.v1.WebhookDeleted' && e.resource === webhook) ? true : undefined;
    });
  });

  it('rejects unknown event types', async () => {
    const owner = await signUp();
    const org = await orgOf(owner.token);
    const res = await rest('POST', `/v1/${org}/webhooks`, owner.token, { url: hookUrl('/x'), eventTypes: ['taskmesh.task.v1.Nope'] });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/webhook\.event_types/);
  });

  it('runs on the events carrier the environment asks for', () => {
    expect(stack.events).toBe(natsUrl ? 'jetstream' : 'in-process');
  });
});
