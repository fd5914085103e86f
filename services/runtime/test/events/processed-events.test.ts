// processOnceBatch: one transaction and one processed_events insert per batch, with the same effect as
// processOnce per event (a redelivered batch is a no-op; a failing batch leaves nothing behind).
import { context } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '@taskmesh/runtime/database';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { processOnce, processOnceBatch } from '@taskmesh/runtime/events/processed-events';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { openEventTestDatabase, sideEffects, TASK_ASSIGNED } from './event-test-database.ts';

const received = (id = randomUUID(), deliveryCount = 1): ReceivedEvent => ({
  id,
  type: TASK_ASSIGNED,
  organization: '',
  actor: 'users/a',
  resource: 'r',
  occurTime: new Date(),
  payload: new Uint8Array(),
  deliveryCount,
  traceContext: context.active(),
});

describe('processOnceBatch', () => {
  let testDb: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openEventTestDatabase(testDb, 'processedbatch');
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  const handler = (consumer: string, seen: string[][], duplicates: string[], failOn?: string) =>
    processOnceBatch(
      db.em,
      consumer,
      async (events, tx) => {
        seen.push(events.map((e) => e.id));
        for (const event of events) {
          await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', [consumer, event.id, event.deliveryCount]);
          if (event.id === failOn) throw new Error('fails');
        }
      },
      { onDuplicate: (event) => duplicates.push(event.id) },
    );

  it('handles new events in their order, once; a redelivered batch is a no-op; an id twice in a batch counts once', async () => {
    const seen: string[][] = [];
    const duplicates: string[] = [];
    const handle = handler('batch-once', seen, duplicates);
    const events = [received(), received(), received()];
    await handle(events);
    await handle(events.map((e) => ({ ...e, deliveryCount: 2 })));
    const later = received();
    await handle([events[1]!, later, later]);
    expect(seen).toEqual([events.map((e) => e.id), [later.id]]);
    expect(duplicates).toEqual([...events.map((e) => e.id), events[1]!.id, later.id]);
    expect((await sideEffects(db, 'batch-once')).map((e) => e.event_id)).toEqual([...events.map((e) => e.id), later.id]);
  });

  it('shares the record with processOnce, and a failing batch leaves nothing behind', async () => {
    const seen: string[][] = [];
    const duplicates: string[] = [];
    const events = [received(), received(), received()];
    const single: string[] = [];
    await processOnce(db.em, 'batch-shared', async (event, tx) => {
      single.push(event.id);
      await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['batch-shared', event.id, event.deliveryCount]);
    })(events[0]!);
    await expect(handler('batch-shared', seen, duplicates, events[2]!.id)(events)).rejects.toThrow('fails');
    expect(await sideEffects(db, 'batch-shared')).toHaveLength(1);
    await handler('batch-shared', seen, duplicates)(events);
    expect(seen).toEqual([[events[1]!.id, events[2]!.id], [events[1]!.id, events[2]!.id]]);
    expect(duplicates).toEqual([events[0]!.id]);
    expect((await sideEffects(db, 'batch-shared')).map((e) => e.event_id)).toEqual(events.map((e) => e.id));
  });
});
