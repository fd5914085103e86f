// Retention of finished webhook deliveries on a real PostgreSQL with the service's own migrations (RLS on):
// deliveries that succeeded or were given up before the cutoff go with their attempts, in every org and in
// bounded batches; pending deliveries, recent ones, and every other org's row outside that scope stay.
// Also the erasure of rotated-out signing secrets whose grace period ended, in every org, and nothing else.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookkeepingRetention, type RetentionPurge } from '@taskmesh/runtime/bookkeeping-retention';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import { sql, withAppConnection, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { loadWebhookConfig } from '../src/config.ts';
import { deliveryRetentionPurge } from '../src/db/delivery-retention.ts';
import { expiredSecretErasure } from '../src/db/secret-erasure.ts';
import { DeliveryAttemptRecord, DeliveryRecord, OrgOwnerRecord, WebhookRecord } from '../src/db/entities.ts';
import { webhookMigrations } from '../src/db/migrations/index.ts';
import { SECRET_ERASE_BEFORE_SETTING } from '../src/db/retention-scope.ts';

const DAY = 86_400_000;
const quietLog = pino({ level: process.env.TEST_LOG_LEVEL || 'silent' });

describe('webhook delivery retention', () => {
  let testDb: TestDatabase;
  let db: Database;
  let admin: pg.Client;
  const now = new Date();
  const ago = (days: number) => new Date(now.getTime() - days * DAY);
  const [orgA, orgB] = [randomUUID(), randomUUID()];
  const hooks = new Map<string, string>();

  /** `n` deliveries of `orgId` in `state`, created `createdDaysAgo` ago, finished `finishedDaysAgo` ago (null: not recorded), each with `attempts` attempts made when it finished (or was created). */
  async function deliveries(orgId: string, n: number, state: string, createdDaysAgo: number, finishedDaysAgo: number | null, attempts: number, label: string) {
    const finish = finishedDaysAgo === null ? null : ago(finishedDaysAgo);
    const attemptTime = finish ?? ago(createdDaysAgo);
    await withOrgConnection(db.em, orgId, (tx) =>
      tx.commit(
        sql`insert into deliveries (id, org_id, webhook_id, event_id, event_type, body, attempts, state, created_at, finish_time)
            select gen_random_uuid(), ${orgId}::uuid, ${hooks.get(orgId)!}::uuid, gen_random_uuid(), ${label}, '{}', ${attempts}::int, ${state},
                   ${ago(createdDaysAgo)}::timestamptz, ${finish}::timestamptz
            from generate_series(1, ${n}::int)`,
        sql`insert into delivery_attempts (id, org_id, delivery_id, webhook_id, event_id, event_type, attempt, http_status, duration_ms, deliver_time, state, error)
            select gen_random_uuid(), d.org_id, d.id, d.webhook_id, d.event_id, d.event_type, a, 500, 3, ${attemptTime}::timestamptz, 'FAILED', ''
            from deliveries d, generate_series(1, ${attempts}::int) a where d.event_type = ${label}`,
      ),
    );
  }

  const remaining = async (table: 'deliveries' | 'delivery_attempts', label: string) =>
    Number((await admin.query(`select count(*) as n from webhook.${table} where event_type = $1`, [label])).rows[0].n);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({
      service: 'webhook',
      entities: [TenantScoped, WebhookRecord, DeliveryRecord, DeliveryAttemptRecord, OrgOwnerRecord, OutboxEvent],
      migrations: webhookMigrations,
      databaseUrl: testDb.databaseUrl,
      log: quietLog,
      poolMax: 4,
    });
    admin = new pg.Client({ connectionString: testDb.databaseUrl });
    await admin.connect();
    for (const orgId of [orgA, orgB]) {
      const id = randomUUID();
      hooks.set(orgId, id);
      await withOrgConnection(db.em, orgId, (tx) =>
        tx.commit(sql`insert into webhooks (id, org_id, url, event_types, state, secret_sealed, created_by, created_at, updated_at)
                      values (${id}::uuid, ${orgId}::uuid, 'https://example.com/hook', '{}', 'ACTIVE', 'sealed', ${randomUUID()}::uuid, now(), now())`),
      );
    }
    await deliveries(orgA, 70, 'SUCCEEDED', 41, 40, 1, 'old-succeeded-a');
    await deliveries(orgB, 12, 'FAILED', 45, 44, 3, 'old-failed-b');
    // Settled before finish_time was recorded: counted from creation.
    await deliveries(orgB, 4, 'SUCCEEDED', 35, null, 1, 'legacy-b');
    await deliveries(orgA, 5, 'SUCCEEDED', 31, 29, 2, 'recent-a');
    await deliveries(orgB, 3, 'FAILED', 20, null, 0, 'recent-legacy-b');
    // Still being retried after an old first attempt (an org long suspended): never purged.
    await deliveries(orgA, 6, 'PENDING', 60, null, 2, 'pending-a');
  });
  afterAll(async () => {
    await admin?.end();
    await db?.close();
    await testDb?.drop();
  });

  it('deletes finished deliveries past retention with their attempts, in every org, in bounded batches', async () => {
    // The app role sees none of them without an org or the purge's setting (RLS holds).
    const visible = await withAppConnection(db.em, {}, async (tx) => (await tx.query<{ n: number }>(sql`select count(*)::int as n from deliveries`)).rows[0]!.n);
    expect(visible).toBe(0);

    const batches: number[] = [];
    const purge = deliveryRetentionPurge(db.em, 30);
    const counted: RetentionPurge = {
      what: purge.what,
      deleteBatch: async (at, limit) => {
        const n = await purge.deleteBatch(at, limit);
        batches.push(n);
        return n;
      },
    };
    const retention = new BookkeepingRetention(db.em, { more: [counted] }, { intervalSeconds: 3600, log: quietLog, batchSize: 25 });
    expect(await retention.purgeDue(now)).toEqual({ 'finished webhook deliveries': 86 });
    expect(batches).toEqual([25, 25, 25, 11]);

    for (const label of ['old-succeeded-a', 'old-failed-b', 'legacy-b']) {
      expect(await remaining('deliveries', label)).toBe(0);
      expect(await remaining('delivery_attempts', label)).toBe(0);
    }
    expect(await remaining('deliveries', 'recent-a')).toBe(5);
    expect(await remaining('delivery_attempts', 'recent-a')).toBe(10);
    expect(await remaining('deliveries', 'recent-legacy-b')).toBe(3);
    expect(await remaining('deliveries', 'pending-a')).toBe(6);
    expect(await remaining('delivery_attempts', 'pending-a')).toBe(12);
    expect(await retention.purgeDue(now)).toEqual({ 'finished webhook deliveries': 0 });
  });

  it('erases previous signing secrets past their grace period in every org, and can write nothing else', async () => {
    const previous = async (orgId: string) =>
      (await admin.query('select previous_secret_sealed as sealed, previous_secret_expire_time as expiry from webhook.webhooks where id = $1::uuid', [hooks.get(orgId)])).rows[0];
    const rotate = (orgId: string, expiry: Date) =>
      withOrgConnection(db.em, orgId, (tx) =>
        tx.commit(sql`update webhooks set previous_secret_sealed = 'sealed-before', previous_secret_expire_time = ${expiry}::timestamptz where id = ${hooks.get(orgId)!}::uuid`),
      );
    await rotate(orgA, new Date(now.getTime() - 60_000));
    await rotate(orgB, new Date(now.getTime() + 3_600_000));
    // A previous secret never comes without the end of its grace period.
    await expect(
      withOrgConnection(db.em, orgA, (tx) => tx.commit(sql`update webhooks set previous_secret_expire_time = null where id = ${hooks.get(orgA)!}::uuid`)),
    ).rejects.toThrow(/webhooks_previous_secret_expiry/);

    const retention = new BookkeepingRetention(db.em, { more: [expiredSecretErasure(db.em)] }, { intervalSeconds: 3600, log: quietLog });
    expect(await retention.purgeDue(now)).toEqual({ 'expired previous webhook signing secrets': 1 });
    // The secret is gone; the end of its grace period (nothing secret) stays.
    expect(await previous(orgA)).toEqual({ sealed: null, expiry: new Date(now.getTime() - 60_000) });
    expect((await previous(orgB)).sealed).toBe('sealed-before');
    expect(await retention.purgeDue(now)).toEqual({ 'expired previous webhook signing secrets': 0 });

    // The erasure's scope admits only rows whose previous secret it erases: any other write is refused.
    await rotate(orgA, new Date(now.getTime() - 60_000));
    await expect(
      withAppConnection(db.em, { [SECRET_ERASE_BEFORE_SETTING]: now.toISOString() }, (tx) =>
        tx.commit(sql`update webhooks set url = 'https://attacker.example/' where previous_secret_expire_time is not null`),
      ),
    ).rejects.toThrow(/row-level security/);
    // Without the setting (or an org) nothing is visible to update.
    const untouched = await withAppConnection(db.em, {}, async (tx) =>
      (await tx.query<{ n: number }>(sql`with u as (update webhooks set previous_secret_sealed = null returning id) select count(*)::int as n from u`)).rows[0]!.n,
    );
    expect(untouched).toBe(0);
    expect((await previous(orgA)).sealed).toBe('sealed-before');
    expect((await admin.query(`select count(*)::int as n from webhook.webhooks where url <> 'https://example.com/hook'`)).rows[0].n).toBe(0);
  });

  it('defaults to 30 days and refuses fewer days than the event stream keeps events', () => {
    const required = { IDENTITY_ADDR: 'localhost:1', ORG_ADDR: 'localhost:2' };
    expect(loadWebhookConfig(required).WEBHOOK_DELIVERY_RETENTION_DAYS).toBe(30);
    expect(() => loadWebhookConfig({ ...required, WEBHOOK_DELIVERY_RETENTION_DAYS: '3' })).toThrow(/WEBHOOK_DELIVERY_RETENTION_DAYS: must be at least 8 days/);
  });
});
