// Retention of the bookkeeping tables on a real PostgreSQL: published outbox rows and processed-event ids past
// retention go in bounded batches, unpublished and recent rows stay, the job stops cleanly, and a
// processed-events retention shorter than the dead-letter stream keeps events is refused at start.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BookkeepingRetention,
  outboxPurge,
  processedEventsPurge,
  processedEventsRetentionConfigShape,
  type RetentionPurge,
} from '@taskmesh/runtime/bookkeeping-retention';
import { ConfigError, parseConfig } from '@taskmesh/runtime/config';
import type { Database } from '@taskmesh/runtime/database';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { openEventTestDatabase, quietLog } from './events/event-test-database.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A purge that records what each of its statements deleted. */
function counted(purge: RetentionPurge, batches: number[]): RetentionPurge {
  return {
    what: purge.what,
    async deleteBatch(now, limit) {
      const n = await purge.deleteBatch(now, limit);
      batches.push(n);
      return n;
    },
  };
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('bookkeeping retention', () => {
  let testDb: TestDatabase;
  let db: Database;
  const now = new Date();

  const execute = (statement: string, params: unknown[] = []) => db.em.fork().execute(statement, params);
  const count = async (statement: string) => Number((await db.em.fork().execute<{ n: string }[]>(statement))[0]!.n);

  /** `n` outbox rows written `ageMs` ago, published (that long ago) or not. */
  const outboxRows = (n: number, ageMs: number, published: boolean, label: string) =>
    execute(
      `insert into outbox (id, type, resource, occur_time, payload, published_at)
       select gen_random_uuid(), 'test.Event', ? || g, ?, '\\x00', ? from generate_series(1, ?) g`,
      [label, new Date(now.getTime() - ageMs), published ? new Date(now.getTime() - ageMs) : null, n],
    );
  const processedRows = (n: number, ageMs: number, consumer: string) =>
    execute(
      `insert into processed_events (consumer, event_id, event_type, processed_at)
       select ?, gen_random_uuid(), 'test.Event', ? from generate_series(1, ?)`,
      [consumer, new Date(now.getTime() - ageMs), n],
    );

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openEventTestDatabase(testDb, 'retention');
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });
  beforeEach(async () => {
    await execute('delete from outbox');
    await execute('delete from processed_events');
  });

  it('deletes published outbox rows past retention in bounded batches and keeps unpublished and recent ones', async () => {
    await outboxRows(120, 200 * HOUR, true, 'old-');
    await outboxRows(7, 100 * HOUR, true, 'recent-');
    await outboxRows(5, 400 * HOUR, false, 'unpublished-');
    const batches: number[] = [];
    const retention = new BookkeepingRetention(db.em, { more: [counted(outboxPurge(db.em, 168), batches)] }, { intervalSeconds: 3600, log: quietLog, batchSize: 50 });

    expect(await retention.purgeDue(now)).toEqual({ 'published outbox rows': 120 });
    expect(batches).toEqual([50, 50, 20]);
    expect(await count(`select count(*) as n from outbox where resource like 'old-%'`)).toBe(0);
    expect(await count(`select count(*) as n from outbox where resource like 'recent-%'`)).toBe(7);
    expect(await count(`select count(*) as n from outbox where resource like 'unpublished-%' and published_at is null`)).toBe(5);
    // Nothing left to do: a second run (another replica's, or the next) deletes nothing.
    expect(await retention.purgeDue(now)).toEqual({ 'published outbox rows': 0 });
  });

  it('forgets processed events past retention in bounded batches and keeps recent ones', async () => {
    await processedRows(110, 36 * DAY, 'a');
    await processedRows(3, 36 * DAY, 'b');
    await processedRows(9, 34 * DAY, 'a');
    const batches: number[] = [];
    const retention = new BookkeepingRetention(db.em, { more: [counted(processedEventsPurge(db.em, 35), batches)] }, { intervalSeconds: 3600, log: quietLog, batchSize: 40 });

    expect(await retention.purgeDue(now)).toEqual({ 'processed events': 113 });
    expect(batches).toEqual([40, 40, 33]);
    expect(await count(`select count(*) as n from processed_events where processed_at < now() - interval '35 days'`)).toBe(0);
    expect(await count('select count(*) as n from processed_events')).toBe(9);
  });

  it('purges only the tables of its scope', async () => {
    await outboxRows(3, 200 * HOUR, true, 'old-');
    await processedRows(4, 40 * DAY, 'a');
    const outboxOnly = new BookkeepingRetention(db.em, { outboxRetentionHours: 168 }, { intervalSeconds: 3600, log: quietLog });
    expect(await outboxOnly.purgeDue(now)).toEqual({ 'published outbox rows': 3 });
    expect(await count('select count(*) as n from processed_events')).toBe(4);
    const both = new BookkeepingRetention(db.em, { outboxRetentionHours: 168, processedEventsRetentionDays: 35 }, { intervalSeconds: 3600, log: quietLog });
    expect(await both.purgeDue(now)).toEqual({ 'published outbox rows': 0, 'processed events': 4 });
  });

  it('replicas purging at the same time delete each row once', async () => {
    await outboxRows(300, 200 * HOUR, true, 'old-');
    const replica = () => new BookkeepingRetention(db.em, { outboxRetentionHours: 168 }, { intervalSeconds: 3600, log: quietLog, batchSize: 20 });
    const results = await Promise.all([replica().purgeDue(now), replica().purgeDue(now), replica().purgeDue(now)]);
    expect(results.reduce((sum, r) => sum + r['published outbox rows']!, 0)).toBe(300);
    expect(await count('select count(*) as n from outbox')).toBe(0);
  });

  it('runs on its interval after start and deletes what is due', async () => {
    await outboxRows(30, 200 * HOUR, true, 'old-');
    await processedRows(30, 40 * DAY, 'a');
    const retention = new BookkeepingRetention(
      db.em,
      { outboxRetentionHours: 168, processedEventsRetentionDays: 35 },
      { intervalSeconds: 3600, log: quietLog, batchSize: 10, firstRunAfterMs: 20 },
    );
    retention.start();
    try {
      await eventually(async () => (await count('select count(*) as n from outbox')) + (await count('select count(*) as n from processed_events')) === 0, 'the first run');
    } finally {
      await retention.stop();
    }
  });

  it('stops on close: the run in progress ends after its current statement, and no run follows', async () => {
    let calls = 0;
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      release = resolve;
    });
    let finishStatement!: () => void;
    // Always a full batch, so only stop() ends the run.
    const endless: RetentionPurge = {
      what: 'endless rows',
      deleteBatch: async (_now, limit) => {
        calls += 1;
        if (calls === 1) {
          release();
          await new Promise<void>((resolve) => {
            finishStatement = resolve;
          });
        } else await new Promise((r) => setTimeout(r, 5));
        return limit;
      },
    };
    const retention = new BookkeepingRetention(db.em, { more: [endless] }, { intervalSeconds: 0.05, log: quietLog, batchSize: 10, firstRunAfterMs: 0 });
    retention.start();
    await started;
    let stopped = false;
    const stopping = retention.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);
    finishStatement();
    await Promise.race([stopping, new Promise((r) => setTimeout(r, 1_000))]);
    expect(stopped).toBe(true);
    expect(calls).toBe(1);
    await new Promise((r) => setTimeout(r, 150));
    expect(calls).toBe(1);
  });

  it('stops before its first run when closed at once', async () => {
    await outboxRows(2, 200 * HOUR, true, 'old-');
    const retention = new BookkeepingRetention(db.em, { outboxRetentionHours: 168 }, { intervalSeconds: 3600, log: quietLog, firstRunAfterMs: 50 });
    retention.start();
    await retention.stop();
    await new Promise((r) => setTimeout(r, 120));
    expect(await count('select count(*) as n from outbox')).toBe(2);
  });
});

describe('PROCESSED_EVENTS_RETENTION_DAYS', () => {
  const schema = z.object(processedEventsRetentionConfigShape);

  it('defaults to 35 days and takes 31', () => {
    expect(parseConfig(schema, {}).PROCESSED_EVENTS_RETENTION_DAYS).toBe(35);
    expect(parseConfig(schema, { PROCESSED_EVENTS_RETENTION_DAYS: '31' }).PROCESSED_EVENTS_RETENTION_DAYS).toBe(31);
  });

  it('refuses less than 31 days, naming the variable and why', () => {
    expect(() => parseConfig(schema, { PROCESSED_EVENTS_RETENTION_DAYS: '30' })).toThrow(ConfigError);
    expect(() => parseConfig(schema, { PROCESSED_EVENTS_RETENTION_DAYS: '7' })).toThrow(
      /PROCESSED_EVENTS_RETENTION_DAYS: must be at least 31 days: the dead-letter stream keeps events 30 days/,
    );
  });
});
