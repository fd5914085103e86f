// The embedded mode: relays hand events to the same handlers in-process, with at-least-once delivery
// (the outbox row stays unsent until every subscriber succeeded) and idempotency through processOnce.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Database } from '@taskmesh/runtime/database';
import { createInProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { processOnce, processOnceBatch } from '@taskmesh/runtime/events/processed-events';
import { startOutboxRelay } from '@taskmesh/runtime/events/relay';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { eventually, openEventTestDatabase, quietLog, sideEffects, TASK_ASSIGNED, unsentCount, writeEvents } from './event-test-database.ts';

describe('in-process event bus', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openEventTestDatabase(testDb, 'inprocess');
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  it('keeps events in the outbox until started, then retries a failing handler and processes each event once', async () => {
    const bus = createInProcessBus({ log: quietLog });
    let failNext = true;
    const duplicates: string[] = [];
    const record = (consumer: string) =>
      processOnce(db.em, consumer, async (event, tx) => {
        await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', [consumer, event.id, event.deliveryCount]);
      }, { onDuplicate: (event) => duplicates.push(`${consumer}:${event.id}`) });
    await bus.subscribe({ consumer: 'steady', types: [TASK_ASSIGNED], handle: record('steady') });
    const flaky = record('flaky');
    await bus.subscribe({
      consumer: 'flaky',
      types: [TASK_ASSIGNED],
      backoffMs: [20],
      handle: async (event) => {
        if (failNext) {
          failNext = false;
          throw new Error('transient');
        }
        await flaky(event);
      },
    });
    await bus.subscribe({ consumer: 'other-types', types: ['taskmesh.org.v1.MemberAdded'], handle: async () => { throw new Error('never called'); } });
    const relay = startOutboxRelay({ em: db.em, service: 'inprocess', bus, log: quietLog, pollIntervalMs: 20 });
    const ids = await writeEvents(db, 3, 'in-process');
    await expect(relay.flush()).rejects.toThrow(/not started/);
    expect(await unsentCount(db)).toBe(3);

    bus.start();
    await eventually(async () => (await unsentCount(db)) === 0, 'outbox drained');
    await relay.stop();

    expect((await sideEffects(db, 'steady')).map((e) => e.event_id)).toEqual(ids);
    // The first delivery to 'flaky' failed; the row was offered again, 'steady' skipped it as a duplicate.
    expect(await sideEffects(db, 'flaky')).toEqual(ids.map((id, i) => ({ event_id: id, delivery: i === 0 ? 2 : 1 })));
    expect(duplicates).toEqual([`steady:${ids[0]}`]);
  });

  it('dead-letters an event after maxDeliver failed deliveries and goes on with the rest', async () => {
    const bus = createInProcessBus({ log: quietLog });
    const [first, poison, last] = await writeEvents(db, 3, 'in-process-poison');
    await bus.subscribe({
      consumer: 'picky',
      types: [TASK_ASSIGNED],
      maxDeliver: 2,
      backoffMs: [10],
      handle: processOnce(db.em, 'picky', async (event, tx) => {
        if (event.id === poison) throw new Error('cannot handle');
        await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['picky', event.id, event.deliveryCount]);
      }),
    });
    bus.start();
    const relay = startOutboxRelay({ em: db.em, service: 'inprocess', bus, log: quietLog, pollIntervalMs: 10 });
    await eventually(async () => (await unsentCount(db)) === 0, 'outbox drained');
    await relay.stop();
    expect((await sideEffects(db, 'picky')).map((e) => e.event_id)).toEqual([first, last]);
    expect(bus.deadLetters()).toMatchObject([{ consumer: 'picky', deliveries: 2, event: { id: poison, type: TASK_ASSIGNED } }]);
  });

  it('hands an outbox batch to handleBatch; a poison event in it fails alone, is dead-lettered, and the rest are handled once, in order', async () => {
    const bus = createInProcessBus({ log: quietLog });
    const ids = await writeEvents(db, 5, 'in-process-batch');
    const poison = ids[2]!;
    const batches: string[][] = [];
    const insert = (consumer: string) => async (event: { id: string; deliveryCount: number }, tx: EntityManager) => {
      if (consumer === 'batched' && event.id === poison) throw new Error('poison');
      await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', [consumer, event.id, event.deliveryCount]);
    };
    await bus.subscribe({
      consumer: 'batched',
      types: [TASK_ASSIGNED],
      maxDeliver: 2,
      backoffMs: [10],
      handle: processOnce(db.em, 'batched', insert('batched')),
      handleBatch: processOnceBatch(db.em, 'batched', async (events, tx) => {
        batches.push(events.map((e) => e.id));
        for (const event of events) await insert('batched')(event, tx);
      }),
    });
    await bus.subscribe({ consumer: 'plain', types: [TASK_ASSIGNED], handle: processOnce(db.em, 'plain', insert('plain')) });
    bus.start();
    const relay = startOutboxRelay({ em: db.em, service: 'inprocess', bus, log: quietLog, pollIntervalMs: 10 });
    await eventually(async () => (await unsentCount(db)) === 0, 'outbox drained');
    await relay.stop();
    expect(batches[0]).toEqual(ids);
    expect((await sideEffects(db, 'batched')).map((e) => e.event_id)).toEqual(ids.filter((id) => id !== poison));
    expect((await sideEffects(db, 'plain')).map((e) => e.event_id)).toEqual(ids);
    expect(bus.deadLetters()).toMatchObject([{ consumer: 'batched', deliveries: 2, event: { id: poison } }]);
  });

  it('gives broadcast subscribers the events published while they are subscribed; their failures hold nothing up', async () => {
    const bus = createInProcessBus({ log: quietLog });
    bus.start();
    const seen: string[] = [];
    const watcher = await bus.subscribe({ consumer: 'watch', delivery: 'broadcast', types: [TASK_ASSIGNED], handle: async (e) => void seen.push(e.id) });
    await bus.subscribe({ consumer: 'broken-watch', delivery: 'broadcast', types: [TASK_ASSIGNED], handle: async () => { throw new Error('gone'); } });
    const relay = startOutboxRelay({ em: db.em, service: 'inprocess', bus, log: quietLog, pollIntervalMs: 10 });
    const first = await writeEvents(db, 2, 'in-process-broadcast');
    await eventually(async () => (await unsentCount(db)) === 0, 'first events out');
    await watcher.stop();
    await writeEvents(db, 1, 'in-process-broadcast-after');
    await eventually(async () => (await unsentCount(db)) === 0, 'later event out despite the stopped watcher');
    await relay.stop();
    expect(seen).toEqual(first);
  });

  it('publishes right after a commit when nudged, without waiting for the next poll', async () => {
    const bus = createInProcessBus({ log: quietLog });
    bus.start();
    const seen: string[] = [];
    await bus.subscribe({ consumer: 'prompt', types: [TASK_ASSIGNED], handle: async (e) => void seen.push(e.id) });
    // Polls once at start, then not for an hour: only the commit's nudge can publish the event.
    const relay = startOutboxRelay({ em: db.em, service: 'inprocess', bus, log: quietLog, pollIntervalMs: 3_600_000 });
    await relay.flush();
    const ids = await writeEvents(db, 1, 'nudged');
    await eventually(async () => seen.length === 1, 'the nudged publish');
    await relay.stop();
    expect(seen).toEqual(ids);
  });
});
