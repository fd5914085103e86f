// Retention of notify's outgoing mail on a real PostgreSQL with the service's own migrations: mail sent or
// given up before the cutoff goes in bounded batches; pending mail (however old) and recent mail stay.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { loadNotifyConfig } from '../src/config.ts';
import { mailRetentionPurge } from '../src/db/mail-retention.ts';
import { notifyMigrations } from '../src/db/migrations/index.ts';
import { startNotify } from '../src/server.ts';

const DAY = 86_400_000;
const quietLog = pino({ level: process.env.TEST_LOG_LEVEL || 'silent' });

describe('outgoing mail retention', () => {
  let testDb: TestDatabase;
  let db: Database;
  const now = new Date();
  const ago = (days: number | null) => (days === null ? null : new Date(now.getTime() - days * DAY));

  /** `n` mails of `kind`, created `createdDaysAgo` ago, sent or given up that many days ago (null: not). */
  const mails = (n: number, kind: string, createdDaysAgo: number, sentDaysAgo: number | null, failedDaysAgo: number | null) =>
    db.em.fork().execute(
      `insert into outgoing_mail (id, dedup_key, kind, recipient, data, created_at, sent_at, failed_at)
       select gen_random_uuid(), ? || g, ?, 'users/u', '{}', ?, ?, ? from generate_series(1, ?) g`,
      [kind, kind, ago(createdDaysAgo), ago(sentDaysAgo), ago(failedDaysAgo), n],
    );
  const remaining = async (kind: string) =>
    Number((await db.em.fork().execute<{ n: string }[]>('select count(*) as n from outgoing_mail where kind = ?', [kind]))[0]!.n);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({ service: 'notify', entities: [], migrations: notifyMigrations, databaseUrl: testDb.databaseUrl, log: quietLog, poolMax: 4 });
    await mails(75, 'old-sent', 41, 40, null);
    await mails(8, 'old-failed', 33, null, 31);
    await mails(4, 'recent-sent', 40, 29, null);
    await mails(2, 'recent-failed', 29, null, 1);
    await mails(6, 'pending', 90, null, null);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('deletes mail sent or given up past retention in bounded batches and keeps pending and recent mail', async () => {
    const retention = new BookkeepingRetention(
      db.em,
      { processedEventsRetentionDays: 35, more: [mailRetentionPurge(db.em, 30)] },
      { intervalSeconds: 3600, log: quietLog, batchSize: 20 },
    );
    expect(await retention.purgeDue(now)).toEqual({ 'processed events': 0, 'finished outgoing mail': 83 });
    expect(await remaining('old-sent')).toBe(0);
    expect(await remaining('old-failed')).toBe(0);
    expect(await remaining('recent-sent')).toBe(4);
    expect(await remaining('recent-failed')).toBe(2);
    expect(await remaining('pending')).toBe(6);
    expect(await retention.purgeDue(now)).toEqual({ 'processed events': 0, 'finished outgoing mail': 0 });
  });

  it('reads MAIL_RETENTION_DAYS (default 30) and refuses a short PROCESSED_EVENTS_RETENTION_DAYS', () => {
    expect(loadNotifyConfig({}).MAIL_RETENTION_DAYS).toBe(30);
    expect(loadNotifyConfig({ MAIL_RETENTION_DAYS: '90' }).MAIL_RETENTION_DAYS).toBe(90);
    expect(() => loadNotifyConfig({ PROCESSED_EVENTS_RETENTION_DAYS: '30' })).toThrow(/PROCESSED_EVENTS_RETENTION_DAYS: must be at least 31 days/);
  });
});

describe('the notify service', () => {
  it('composes the retention job for its processed events and mail, and stops it on close', async () => {
    const testDb = await createTestDatabase();
    const notify = await startNotify({
      config: loadNotifyConfig({ DATABASE_URL: testDb.databaseUrl, TASKMESH_DATA_DIR: testDb.dataDir, NOTIFY_PORT: '0', MAIL_RETENTION_DAYS: '10' }),
      log: quietLog,
    });
    try {
      const em = notify.db.em;
      await em.fork().execute(
        `insert into outgoing_mail (id, dedup_key, kind, recipient, data, sent_at)
         values (gen_random_uuid(), 'old', 'welcome', 'users/u', '{}', now() - interval '11 days'),
                (gen_random_uuid(), 'kept', 'welcome', 'users/u', '{}', now() - interval '9 days')`,
      );
      await em.fork().execute(
        `insert into processed_events (consumer, event_id, event_type, processed_at)
         values ('notify', gen_random_uuid(), 'test.Event', now() - interval '36 days'), ('notify', gen_random_uuid(), 'test.Event', now() - interval '34 days')`,
      );
      expect(await notify.retention.purgeDue()).toEqual({ 'processed events': 1, 'finished outgoing mail': 1 });
      const left = await em.fork().execute<{ n: string }[]>(`select (select count(*) from outgoing_mail) + (select count(*) from processed_events) as n`);
      expect(Number(left[0]!.n)).toBe(2);
    } finally {
      await notify.close();
      await testDb.drop();
    }
  });
});
