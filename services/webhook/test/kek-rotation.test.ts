import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { Delivery_State } from '@taskmesh/gen/taskmesh/webhook/v1/webhook.js';
import { CreateWebhookRequest, WebhookServiceClient } from '@taskmesh/gen/taskmesh/webhook/v1/webhook_service.js';
import { identityService } from '@taskmesh/identity/descriptor';
import { orgService } from '@taskmesh/org/descriptor';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { KeyEncryptionKey, KeyRing } from '@taskmesh/runtime/key-encryption';
import { sql, withAppConnection } from '@taskmesh/runtime/tenant-sql';
import { startRecordingReceiver, type RecordingReceiver } from '@taskmesh/runtime/testing/http-receiver';
import { createOrg, invite, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { webhookMigrations } from '../src/db/migrations/index.ts';
import { KEK_RESEAL_SETTING } from '../src/db/retention-scope.ts';
import { resealWebhookSecrets } from '../src/kek-reseal.ts';
import { webhookService } from '../src/descriptor.ts';
import { verifyStandardWebhook } from './standard-webhooks.ts';

/**
 * The documented KEK rotation (services/identity/README.md) with webhooks, on real PostgreSQL, JetStream and a
 * loopback HTTP receiver: endpoints of two orgs (one with a previous secret from a rotation) sealed under KEK
 * A; the stack restarted with B and previous A still delivers verifiable signatures; `rotate-kek` re-seals
 * every sealed value under B; with B alone deliveries verify with the same whsec_ secrets; a second run
 * changes nothing; the rotation's RLS scope admits nothing but re-sealing.
 */
const root = resolve(import.meta.dirname, '../../..');
const natsUrl = await natsForTests();
const kekA = randomBytes(32).toString('base64');
const kekB = randomBytes(32).toString('base64');
const idOf = (kek: string) => KeyEncryptionKey.fromBase64(kek, 'TASKMESH_KEK').id;

let database: TestDatabase;
let receiver: RecordingReceiver;
let stack: TestStack | undefined;

/** The stack (identity, org, webhook) on the shared database, with these KEK settings. */
async function startWith(kek: Record<string, string>): Promise<TestStack> {
  await stack?.close();
  stack = await startTestStack({
    services: [identityService, orgService, webhookService],
    database,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: { ...kek, WEBHOOK_ALLOWED_HOSTS: receiver.host, WEBHOOK_POLL_MS: '100' },
  });
  return stack;
}

/** `npm run rotate-kek` as the operator runs it (step 3), with B and previous A; its output. */
async function rotateKek(): Promise<string> {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'rotate-kek'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database.databaseUrl, TASKMESH_DATA_DIR: database.dataDir, TASKMESH_KEK: kekB, TASKMESH_KEK_PREVIOUS: kekA },
  });
  return stdout;
}

/** A query as the database's superuser (past RLS). */
async function asSuperuser<Row>(statement: string): Promise<Row[]> {
  const admin = new pg.Client({ connectionString: database.databaseUrl });
  await admin.connect();
  try {
    return (await admin.query(statement)).rows as Row[];
  } finally {
    await admin.end();
  }
}

/** The KEK id every sealed value of both services names, with how often. */
async function sealedUnder(): Promise<Record<string, number>> {
  const rows = await asSuperuser<{ sealed: string }>(`
    select secret_sealed as sealed from webhook.webhooks
    union all select previous_secret_sealed from webhook.webhooks where previous_secret_sealed is not null
    union all select private_key_sealed from identity.signing_keys where private_key_sealed is not null`);
  const counts: Record<string, number> = {};
  for (const { sealed } of rows) counts[sealed.split('.')[1]!] = (counts[sealed.split('.')[1]!] ?? 0) + 1;
  return counts;
}

interface Endpoint {
  name: string;
  path: string;
  owner: TestUser;
  /** Secrets that must each verify every delivery (the current one, and the replaced one in its grace period). */
  secrets: string[];
}

/** A :test ping of `endpoint` succeeds and its request verifies with each of the endpoint's secrets (and not with another). */
async function expectPingVerifies(endpoint: Endpoint): Promise<void> {
  const client = stack!.clientOf(WebhookServiceClient);
  const before = receiver.received.length;
  const res = await callUnary(client, client.testWebhook, { name: endpoint.name }, { metadata: endpoint.owner.auth });
  expect(res.delivery!.state, endpoint.path).toBe(Delivery_State.STATE_SUCCEEDED);
  const ping = receiver.received.slice(before).find((r) => r.path === endpoint.path)!;
  for (const secret of endpoint.secrets) expect(verifyStandardWebhook(secret, ping.headers, ping.body), endpoint.path).toBe(true);
  expect(verifyStandardWebhook(`whsec_${randomBytes(24).toString('base64')}`, ping.headers, ping.body)).toBe(false);
}

/** An event delivered by the worker (an invitation in the endpoint's org) verifies with the endpoint's secrets. */
async function expectEventVerifies(endpoint: Endpoint, org: string): Promise<void> {
  const email = `invitee-${randomBytes(4).toString('hex')}@example.com`;
  await invite(stack!, org, endpoint.owner, email, Role.ROLE_MEMBER);
  const delivery = await vi.waitFor(
    () => {
      const found = receiver.received.find((r) => r.path === endpoint.path && r.body.includes(email));
      if (!found) throw new Error(`no delivery to ${endpoint.path} yet`);
      return found;
    },
    { timeout: 10_000, interval: 50 },
  );
  for (const secret of endpoint.secrets) expect(verifyStandardWebhook(secret, delivery.headers, delivery.body), endpoint.path).toBe(true);
}

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await startRecordingReceiver();
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await database?.drop();
});

describe('KEK rotation with webhooks', () => {
  const orgs: string[] = [];
  const endpoints: Endpoint[] = [];

  it('under KEK A: endpoints in two orgs, one rotated so it has a previous secret', async () => {
    await startWith({ TASKMESH_KEK: kekA });
    const client = stack!.clientOf(WebhookServiceClient);
    for (const label of ['one', 'two']) {
      const owner = await signUp(stack!, `kek-${label}`);
      const org = await createOrg(stack!, owner, `KEK ${label}`);
      const path = `/${label}`;
      const created = await callUnary(
        client,
        client.createWebhook,
        CreateWebhookRequest.fromPartial({ parent: org, webhook: { url: receiver.url(path), eventTypes: ['taskmesh.org.v1.InvitationCreated'] } }),
        { metadata: owner.auth },
      );
      orgs.push(org);
      endpoints.push({ name: created.webhook!.name, path, owner, secrets: [created.secret] });
    }
    const rotated = await callUnary(client, client.rotateWebhookSecret, { name: endpoints[1]!.name }, { metadata: endpoints[1]!.owner.auth });
    endpoints[1]!.secrets.unshift(rotated.secret);
    await expectPingVerifies(endpoints[1]!);
    // Three webhook secrets and identity's signing key, all under A.
    expect(await sealedUnder()).toEqual({ [idOf(kekA)]: 4 });
  });

  it('with B and previous A (step 2): deliveries still verify, new secrets are sealed under B', async () => {
    await startWith({ TASKMESH_KEK: kekB, TASKMESH_KEK_PREVIOUS: kekA });
    for (const endpoint of endpoints) await expectPingVerifies(endpoint);
    await expectEventVerifies(endpoints[0]!, orgs[0]!);
    await expectEventVerifies(endpoints[1]!, orgs[1]!);
    // An endpoint made now is sealed under B already: the re-seal leaves it alone.
    const client = stack!.clientOf(WebhookServiceClient);
    const request = CreateWebhookRequest.fromPartial({ parent: orgs[0]!, webhook: { url: receiver.url('/three') } });
    const created = await callUnary(client, client.createWebhook, request, { metadata: endpoints[0]!.owner.auth });
    endpoints.push({ name: created.webhook!.name, path: '/three', owner: endpoints[0]!.owner, secrets: [created.secret] });
    expect(await sealedUnder()).toEqual({ [idOf(kekA)]: 4, [idOf(kekB)]: 1 });
  });

  it('npm run rotate-kek (step 3) re-seals every signing key and webhook secret under B, while the services run', async () => {
    const out = await rotateKek();
    expect(out).toContain(`re-sealed 1 signing key(s) under key-encryption key ${idOf(kekB)}`);
    expect(out).toContain(`re-sealed 3 webhook signing secret(s) of 2 endpoint(s) under key-encryption key ${idOf(kekB)}`);
    expect(await sealedUnder()).toEqual({ [idOf(kekB)]: 5 });
    for (const endpoint of endpoints) await expectPingVerifies(endpoint);
  });

  it('with B alone (step 4): deliveries verify with the same secrets; a second run changes nothing', async () => {
    await startWith({ TASKMESH_KEK: kekB });
    for (const endpoint of endpoints) await expectPingVerifies(endpoint);
    await expectEventVerifies(endpoints[1]!, orgs[1]!);
    const again = await rotateKek();
    expect(again).toContain('re-sealed 0 signing key(s)');
    expect(again).toContain('re-sealed 0 webhook signing secret(s) of 0 endpoint(s)');
    expect(await sealedUnder()).toEqual({ [idOf(kekB)]: 5 });
  });

  describe("the rotation's database scope and batches", () => {
    let db: Database;
    beforeAll(async () => {
      db = await openDatabase({ service: 'webhook', entities: [], migrations: webhookMigrations, databaseUrl: database.databaseUrl, log: pino({ level: 'silent' }) });
    });
    afterAll(async () => {
      await db?.close();
    });
    const resealing = (body: (tx: Parameters<Parameters<typeof withAppConnection>[2]>[0]) => Promise<unknown>) =>
      withAppConnection(db.em, { [KEK_RESEAL_SETTING]: idOf(kekB) }, body);
    const stored = async () => asSuperuser<{ id: string; url: string; secret_sealed: string }>('select id, url, secret_sealed from webhook.webhooks order by id');

    it('sees every org\'s endpoints only with its setting', async () => {
      expect(await withAppConnection(db.em, {}, (tx) => tx.query(sql`select id from webhooks`)).then((r) => r.rowCount)).toBe(0);
      expect(await resealing((tx) => tx.query(sql`select id from webhooks`)).then((r: any) => r.rowCount)).toBe(3);
    });

    it('writes nothing but the sealed secrets, and only under the KEK it names', async () => {
      const [row] = await stored();
      const update = (set: string) => resealing((tx) => tx.query(sql`update webhooks set ${sql.raw(set)} where id = ${row!.id}::uuid`));
      await expect(update(`url = 'http://evil.example/'`)).rejects.toThrow(/may only re-seal/);
      await expect(update(`org_id = gen_random_uuid()`)).rejects.toThrow(/may only re-seal/);
      await expect(update(`previous_secret_sealed = secret_sealed, previous_secret_expire_time = now()`)).rejects.toThrow(/may only re-seal/);
      const underA = `v1.${idOf(kekA)}.${row!.secret_sealed.split('.').slice(2).join('.')}`;
      await expect(update(`secret_sealed = '${underA}'`)).rejects.toThrow(/row-level security/);
      await expect(resealing((tx) => tx.query(sql`delete from webhooks where id = ${row!.id}::uuid`)).then((r: any) => r.rowCount)).resolves.toBe(0);
      expect((await stored())[0]).toEqual(row);
    });

    it('reports a secret that opens under no KEK of the ring and leaves it; batches reach every row', async () => {
      const kekC = KeyEncryptionKey.fromBase64(randomBytes(32).toString('base64'), 'TASKMESH_KEK');
      const before = await stored();
      const orphaned = await resealWebhookSecrets(db.em, new KeyRing(kekC), { batchSize: 2 });
      expect(orphaned).toEqual({ endpoints: 0, secrets: 0, unopenable: endpoints.map((e) => e.name).sort((a, b) => a.split('/').at(-1)!.localeCompare(b.split('/').at(-1)!)) });
      expect(await stored()).toEqual(before);
      // Three current secrets and one previous, in batches of two endpoints.
      const ring = new KeyRing(kekC, [KeyEncryptionKey.fromBase64(kekB, 'TASKMESH_KEK_PREVIOUS')]);
      expect(await resealWebhookSecrets(db.em, ring, { batchSize: 2 })).toEqual({ endpoints: 3, secrets: 4, unopenable: [] });
      expect(await sealedUnder()).toEqual({ [kekC.id]: 4, [idOf(kekB)]: 1 });
      expect(await resealWebhookSecrets(db.em, ring, { batchSize: 2 })).toEqual({ endpoints: 0, secrets: 0, unopenable: [] });
    });
  });
});
