// The JetStream path against a real nats-server: relay publish with dedup and order, a NATS outage in the
// middle of a run, a consumer killed between commit and ack, and poison messages. With
// TASKMESH_REQUIRE_NATS=1 an unreachable server fails the suite instead of skipping it.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Database } from '@taskmesh/runtime/database';
import { decodeEnvelope, EVENT_TYPE_HEADER } from '@taskmesh/runtime/events/envelope';
import { PermanentEventError, type EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { createJetStreamBus, type JetStreamBus } from '@taskmesh/runtime/events/jetstream-bus';
import { DEAD_LETTER_HEADERS } from '@taskmesh/runtime/events/jetstream-consumer';
import { processOnce, processOnceBatch } from '@taskmesh/runtime/events/processed-events';
import { startOutboxRelay } from '@taskmesh/runtime/events/relay';
import { shutdownTelemetry, startTelemetry } from '@taskmesh/runtime/telemetry';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { natsForTests, startPrivateNatsServer, uniqueStreamSettings, type PrivateNatsServer } from '@taskmesh/runtime/testing/test-nats';
import {
  eventually,
  openEventTestDatabase,
  quietLog,
  sideEffects,
  TASK_ASSIGNED,
  unsentCount,
  writeEvents,
} from './event-test-database.ts';

const natsUrl = await natsForTests();
const exporter = new InMemorySpanExporter();
const processor = new SimpleSpanProcessor({ exporter });

function spansOf(name: string, eventId: string) {
  return exporter.getFinishedSpans().filter((s) => s.name === name && s.attributes['messaging.message.id'] === eventId);
}

/** Every message of a stream, in stream order. */
async function streamMessages(jsm: JetStreamManager, stream: string) {
  const info = await jsm.streams.info(stream);
  const messages = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq });
    if (stored) messages.push(stored);
  }
  return messages;
}

describe.skipIf(!natsUrl)('JetStream events', () => {
  let testDb: TestDatabase;
  let db: Database;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];
  const buses: JetStreamBus[] = [];

  function bus(url: string, settings: ReturnType<typeof uniqueStreamSettings>, extra: { ackWaitMs?: number } = {}) {
    const created = createJetStreamBus({ natsUrl: url, log: quietLog, publishTimeoutMs: 1_000, ...settings, ...extra });
    buses.push(created);
    if (url === natsUrl) streams.push(settings.stream, `${settings.stream}_DLQ`);
    return created;
  }

  beforeAll(async () => {
    await startTelemetry({ serviceName: 'jetstream-test', spanProcessors: [processor] });
    testDb = await createTestDatabase();
    db = await openEventTestDatabase(testDb);
    nc = await connect({ servers: natsUrl! });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    for (const created of buses) await created.close();
    for (const stream of streams) await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await db?.close();
    await testDb?.drop();
    await shutdownTelemetry();
  });

  it('creates the event and dead-letter streams idempotently, with file storage, limits and a dedup window', async () => {
    const settings = uniqueStreamSettings();
    const first = bus(natsUrl!, settings);
    const second = bus(natsUrl!, settings);
    await Promise.all([first.whenReady(), second.whenReady()]);
    const info = await jsm.streams.info(settings.stream);
    expect(info.config.subjects).toEqual([`${settings.subjectPrefix}.>`]);
    expect(info.config.storage).toBe('file');
    expect(info.config.duplicate_window).toBe(10 * 60 * 1e9);
    expect(info.config.max_age).toBe(7 * 24 * 3600 * 1e9);
    expect(info.config.max_bytes).toBe(settings.maxBytes);
    const dlq = await jsm.streams.info(`${settings.stream}_DLQ`);
    expect(dlq.config.subjects).toEqual([`${settings.subjectPrefix}_dlq.>`]);
  });

  it('publishes outbox rows in seq order with Nats-Msg-Id, type and trace headers; republishing is deduplicated', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    const ids = await writeEvents(db, 5, 'order');
    // Two relays over one outbox publish concurrently: the stream must still hold each event once, in order.
    const relays = [1, 2].map(() => startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog, pollIntervalMs: 50 }));
    await Promise.all(relays.map((relay) => relay.flush()));
    await eventually(async () => (await unsentCount(db)) === 0, 'outbox drained');
    // A relay that crashed before marking rows sent publishes them again.
    await db.em.fork().execute('update outbox set published_at = null');
    await relays[0]!.flush();
    for (const relay of relays) await relay.stop();

    const stored = await streamMessages(jsm, settings.stream);
    expect(stored.map((m) => m.header.get('Nats-Msg-Id'))).toEqual(ids);
    const first = stored[0]!;
    expect(first.subject).toBe(`${settings.subjectPrefix}.task.0b8f6a8e-2a51-4a57-9d64-7f3e0c2f4d11.task.assigned`);
    expect(first.header.get(EVENT_TYPE_HEADER)).toBe(TASK_ASSIGNED);
    await processor.forceFlush();
    const publishSpan = spansOf(`${TASK_ASSIGNED} publish`, ids[0]!)[0]!;
    expect(first.header.get('traceparent')).toBe(`00-${publishSpan.spanContext().traceId}-${publishSpan.spanContext().spanId}-01`);
    const envelope = decodeEnvelope(first.data);
    expect(envelope).toMatchObject({ id: ids[0], type: TASK_ASSIGNED, actor: 'users/u0' });
  });

  it('continues the trace of the request that wrote the event: its publish span is a child of that request', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    const tracer = trace.getTracer('jetstream-test');
    const request = tracer.startSpan('request');
    const ids = await context.with(trace.setSpan(context.active(), request), () => writeEvents(db, 1, 'traced'));
    request.end();
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog, pollIntervalMs: 50 });
    await relay.flush();
    await relay.stop();
    await processor.forceFlush();
    const publish = spansOf(`${TASK_ASSIGNED} publish`, ids[0]!)[0]!;
    expect(publish.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(publish.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  });

  describe('with a private nats-server', () => {
    let server: PrivateNatsServer;
    beforeAll(async () => {
      server = await startPrivateNatsServer();
    });
    afterAll(async () => {
      await server?.dispose();
    });

    it('starts without NATS: publish rejects and stop does not hang until the server appears', async () => {
      await server.stop();
      const settings = uniqueStreamSettings();
      const events = bus(server.url, settings);
      const consumer = await events.subscribe({ consumer: 'early', types: [TASK_ASSIGNED], handle: async () => undefined });
      await expect(
        events.publish(
          { id: '6f1f3c1e-3f0e-4c51-9a2b-0d9c2a1b7e11', type: TASK_ASSIGNED, organization: '', actor: '', resource: 'r', occurTime: new Date(), payload: new Uint8Array() },
          {},
        ),
      ).rejects.toThrow(/NATS connection/);
      await consumer.stop();
      await server.start();
      await events.whenReady();
    });

    it('loses and duplicates nothing when NATS stops mid-run and comes back', async () => {
      const settings = uniqueStreamSettings();
      const events = bus(server.url, settings);
      await events.whenReady();
      const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog, pollIntervalMs: 50 });
      // A consumer (as the audit log will be) runs through the outage too, on a connection of its own as
      // in another service.
      const consumerBus = bus(server.url, settings);
      const consumer = await consumerBus.subscribe({
        consumer: 'outage-consumer',
        types: [TASK_ASSIGNED],
        backoffMs: [100],
        handle: processOnce(db.em, 'outage-consumer', async (event, tx) => {
          await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['outage-consumer', event.id, event.deliveryCount]);
        }),
      });
      const before = await writeEvents(db, 5, 'before-outage');
      await eventually(async () => (await unsentCount(db)) === 0, 'first events published');

      await server.stop();
      const during = await writeEvents(db, 5, 'during-outage');
      await expect(relay.flush()).rejects.toThrow();
      expect(await unsentCount(db)).toBeGreaterThan(0);

      await server.start();
      const after = await writeEvents(db, 3, 'after-outage');
      await eventually(async () => (await unsentCount(db)) === 0, 'outbox drained after NATS returned');
      await relay.stop();
      const everything = [...before, ...during, ...after];
      await eventually(async () => (await sideEffects(db, 'outage-consumer')).length >= everything.length, 'consumer caught up');
      await consumer.stop();
      expect((await sideEffects(db, 'outage-consumer')).map((e) => e.event_id)).toEqual(everything);

      const check = await connect({ servers: server.url });
      const stored = await streamMessages(await jetstreamManager(check), settings.stream);
      await check.close();
      const storedIds = stored.map((m) => m.header.get('Nats-Msg-Id'));
      expect(storedIds).toEqual(everything);
    });
  });

  it('redelivers an event whose consumer died after committing and before acking, and processes it once', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings, { ackWaitMs: 1_000 });
    await events.whenReady();
    const [eventId] = await writeEvents(db, 1, 'killed');
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog });
    await relay.flush();
    await relay.stop();

    // The child commits the event through processOnce, then SIGKILLs itself before the ack goes out.
    const root = join(import.meta.dirname, '..', '..', '..', '..');
    const fixture = join(import.meta.dirname, '..', 'fixtures', 'consumer-killed-before-ack.ts');
    const child = promisify(execFile)(process.execPath, ['--import', 'tsx', fixture], {
      cwd: root,
      env: {
        ...process.env,
        NATS_URL: natsUrl,
        EVENTS_STREAM: settings.stream,
        EVENTS_SUBJECT_PREFIX: settings.subjectPrefix,
        EVENTS_STREAM_MAX_BYTES: String(settings.maxBytes),
        TEST_DB_URL: testDb.databaseUrl,
      },
      timeout: 60_000,
    });
    const outcome = await child.then(() => 'exited', (err: { signal?: string }) => err.signal);
    expect(outcome).toBe('SIGKILL');
    expect(await sideEffects(db, 'killed-consumer')).toHaveLength(1);
    const pending = await jsm.consumers.info(settings.stream, 'killed-consumer');
    expect(pending.num_ack_pending).toBe(1);

    const duplicates: number[] = [];
    const handle = processOnce(db.em, 'killed-consumer', async (event, tx) => {
      await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['killed-consumer', event.id, event.deliveryCount]);
    }, { onDuplicate: (event) => duplicates.push(event.deliveryCount) });
    const consumer = await events.subscribe({ consumer: 'killed-consumer', types: [TASK_ASSIGNED], handle, maxDeliver: 5, backoffMs: [100] });
    await eventually(async () => duplicates.length === 1, 'the redelivery');
    await eventually(async () => (await jsm.consumers.info(settings.stream, 'killed-consumer')).num_ack_pending === 0, 'the ack');
    await consumer.stop();
    expect(duplicates).toEqual([2]);
    expect(await sideEffects(db, 'killed-consumer')).toEqual([{ event_id: eventId, delivery: 1 }]);
  });

  it('drains on stop: the event in hand is finished and acked, nothing new is taken', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const [first] = await writeEvents(db, 3, 'drain');
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog });
    await relay.flush();
    await relay.stop();

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const inHand = new Promise<void>((resolve) => (started = resolve));
    const seen: string[] = [];
    const consumer = await events.subscribe({
      consumer: 'draining-consumer',
      types: [TASK_ASSIGNED],
      handle: processOnce(db.em, 'draining-consumer', async (event, tx) => {
        seen.push(event.id);
        started();
        await gate;
        await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['draining-consumer', event.id, event.deliveryCount]);
      }),
    });
    await inHand;
    const stopping = consumer.stop();
    release();
    await stopping;

    expect(seen).toEqual([first]);
    expect(await sideEffects(db, 'draining-consumer')).toEqual([{ event_id: first, delivery: 1 }]);
    expect(consumer.stats()).toMatchObject({ handled: 1, failed: 0 });
    const info = await jsm.consumers.info(settings.stream, 'draining-consumer');
    expect(info.ack_floor.stream_seq).toBe(1);
  });

  it('delivers each event to every broadcast subscriber while it is subscribed, and forgets it after', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const seen: Record<string, string[]> = { a: [], b: [] };
    const replica = (name: 'a' | 'b') =>
      events.subscribe({ consumer: 'membership-cache', delivery: 'broadcast', types: [TASK_ASSIGNED], handle: async (e) => void seen[name]!.push(e.id) });
    const [a, b] = await Promise.all([replica('a'), replica('b')]);
    const ids = await writeEvents(db, 2, 'broadcast');
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog });
    await relay.flush();
    await relay.stop();
    await eventually(async () => seen.a!.length === 2 && seen.b!.length === 2, 'both replicas');
    expect(seen).toEqual({ a: ids, b: ids });
    await a.stop();
    await b.stop();
    const left = [];
    for await (const info of jsm.consumers.list(settings.stream)) left.push(info.name);
    expect(left).toEqual([]);
  });

  it('hands what is waiting to handleBatch in order; a poison event in a batch fails alone, the rest are handled once', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const ids = await writeEvents(db, 7, 'batch');
    const poison = ids[3]!;
    // Everything is in the stream before the consumer starts: its first pull brings several events at once.
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog });
    await relay.flush();
    await relay.stop();

    const batches: string[][] = [];
    const singles: string[] = [];
    const record = async (event: { id: string; deliveryCount: number }, tx: EntityManager) => {
      if (event.id === poison) throw new Error('poison');
      await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['batch-consumer', event.id, event.deliveryCount]);
    };
    const consumer = await events.subscribe({
      consumer: 'batch-consumer',
      types: [TASK_ASSIGNED],
      maxDeliver: 2,
      backoffMs: [50],
      handle: processOnce(db.em, 'batch-consumer', async (event, tx) => {
        singles.push(event.id);
        await record(event, tx);
      }),
      handleBatch: processOnceBatch(db.em, 'batch-consumer', async (batch, tx) => {
        batches.push(batch.map((e) => e.id));
        for (const event of batch) await record(event, tx);
      }),
    });
    await eventually(async () => (await jsm.streams.info(`${settings.stream}_DLQ`)).state.messages === 1, 'the dead letter');
    await eventually(async () => (await jsm.consumers.info(settings.stream, 'batch-consumer')).num_ack_pending === 0, 'acks');
    const stats = consumer.stats();
    await consumer.stop();

    expect(batches.some((batch) => batch.length > 1 && batch.includes(poison))).toBe(true);
    for (const batch of batches) expect(batch).toEqual(ids.filter((id) => batch.includes(id)));
    // Every event handled once, in stream order; the poison alone went to the dead-letter stream.
    expect(await sideEffects(db, 'batch-consumer')).toEqual(ids.filter((id) => id !== poison).map((id) => ({ event_id: id, delivery: 1 })));
    expect(singles.filter((id) => id === poison)).toHaveLength(2);
    expect(stats).toMatchObject({ handled: 6, deadLettered: 1, failed: 1 });
    const [letter] = await streamMessages(jsm, `${settings.stream}_DLQ`);
    expect(letter!.header.get('Nats-Msg-Id')).toBe(`batch-consumer:${poison}`);
    expect(letter!.header.get(DEAD_LETTER_HEADERS.deliveries)).toBe('2');
  });

  it('works through a backlog of several pulls in batches, each event handled once on its first delivery', async () => {
    const settings = uniqueStreamSettings();
    // A long ack_wait: an event the consumer took and left unhandled would only come back after it.
    const events = bus(natsUrl!, settings, { ackWaitMs: 300_000 });
    await events.whenReady();
    const ids: string[] = [];
    for (let i = 0; i < 700; i++) {
      const id = randomUUID();
      ids.push(id);
      await events.publish({ id, type: TASK_ASSIGNED, organization: '', actor: '', resource: `r${i}`, occurTime: new Date(), payload: new Uint8Array() }, {});
    }
    const seen: { id: string; delivery: number }[] = [];
    const sizes: number[] = [];
    const consumer = await events.subscribe({
      consumer: 'backlog-consumer',
      types: [TASK_ASSIGNED],
      handle: async (event) => {
        await db.em.fork().execute('select 1');
        seen.push({ id: event.id, delivery: event.deliveryCount });
      },
      // Real work per batch, during which the client's pull runs on (new pulls, status notices).
      handleBatch: async (batch) => {
        await db.em.fork().execute('select 1');
        sizes.push(batch.length);
        for (const event of batch) seen.push({ id: event.id, delivery: event.deliveryCount });
      },
    });
    await eventually(async () => seen.length >= ids.length, 'the backlog handled');
    await eventually(async () => (await jsm.consumers.info(settings.stream, 'backlog-consumer')).num_ack_pending === 0, 'acks');
    await consumer.stop();
    expect(seen).toEqual(ids.map((id) => ({ id, delivery: 1 })));
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(256);
  });

  it('skips and acks the events of types it does not handle under a wide filter, before decoding them', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const seen: string[] = [];
    // Types of two services: the filter is <prefix>.> and other types arrive too.
    const consumer = await events.subscribe({
      consumer: 'wide-consumer',
      types: [TASK_ASSIGNED, 'taskmesh.org.v1.MemberAdded'],
      handle: async (event) => void seen.push(event.id),
      handleBatch: async (batch) => void seen.push(...batch.map((event) => event.id)),
    });
    const other = (id: string, type: string) =>
      events.publish({ id, type, organization: '', actor: '', resource: 'r', occurTime: new Date(), payload: new Uint8Array() }, {});
    await other('7a1f3c1e-3f0e-4c51-9a2b-0d9c2a1b7e01', 'taskmesh.task.v1.TaskCreated');
    const ids = await writeEvents(db, 2, 'wide');
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog });
    await relay.flush();
    await relay.stop();
    await other('7a1f3c1e-3f0e-4c51-9a2b-0d9c2a1b7e02', 'taskmesh.identity.v1.UserSignedUp');
    await eventually(async () => {
      const info = await jsm.consumers.info(settings.stream, 'wide-consumer');
      return info.delivered.stream_seq === 4 && info.num_ack_pending === 0;
    }, 'every message delivered and acked');
    await consumer.stop();
    expect(seen).toEqual(ids);
  });

  it("gives a broadcast subscriber of several services' types one consumer per service, and only its types", async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const seen: string[] = [];
    const subscriber = await events.subscribe({
      consumer: 'split-broadcast',
      delivery: 'broadcast',
      maxDeliver: 1,
      types: [TASK_ASSIGNED, 'taskmesh.org.v1.MemberRemoved'],
      handle: async (event) => void seen.push(event.type),
      handleBatch: async (batch) => void seen.push(...batch.map((event) => event.type)),
    });
    const filters = [];
    for await (const info of jsm.consumers.list(settings.stream)) filters.push(info.config.filter_subject);
    expect(filters.sort()).toEqual([`${settings.subjectPrefix}.org.*.member.removed`, `${settings.subjectPrefix}.task.*.task.assigned`]);
    const publish = (type: string) =>
      events.publish({ id: randomUUID(), type, organization: '', actor: '', resource: 'r', occurTime: new Date(), payload: new Uint8Array() }, {});
    await publish('taskmesh.task.v1.TaskCreated');
    await publish(TASK_ASSIGNED);
    await publish('taskmesh.org.v1.MemberRemoved');
    await publish('taskmesh.identity.v1.UserSignedUp');
    await eventually(async () => seen.length >= 2, 'both events');
    expect(seen.sort()).toEqual(['taskmesh.org.v1.MemberRemoved', TASK_ASSIGNED]);
    expect(subscriber.stats().handled).toBe(2);
    await subscriber.stop();
    const left = [];
    for await (const info of jsm.consumers.list(settings.stream)) left.push(info.name);
    expect(left).toEqual([]);
  });

  it('sends poison messages to the dead-letter stream without blocking the events behind them', async () => {
    const settings = uniqueStreamSettings();
    const events = bus(natsUrl!, settings);
    await events.whenReady();
    const [good1, poison, good2, permanent, good3] = await writeEvents(db, 5, 'poison');
    // Not an envelope at all, published straight to the stream between the events.
    const garbage = headers();
    garbage.set('Nats-Msg-Id', 'garbage-1');
    const relay = startOutboxRelay({ em: db.em, service: 'eventtest', bus: events, log: quietLog, batchSize: 2 });
    await relay.flush();
    await relay.stop();
    await nc.publish(`${settings.subjectPrefix}.task._.task.assigned`, new Uint8Array([0xff, 0x01, 0x02]), { headers: garbage });
    await nc.flush();

    const attempts = new Map<string, number>();
    const subscription: EventSubscription = {
      consumer: 'poison-consumer',
      types: [TASK_ASSIGNED],
      maxDeliver: 3,
      backoffMs: [50],
      handle: processOnce(db.em, 'poison-consumer', async (event, tx) => {
        attempts.set(event.id, (attempts.get(event.id) ?? 0) + 1);
        if (event.id === poison) throw new Error('handler keeps failing');
        if (event.id === permanent) throw new PermanentEventError('cannot ever handle this');
        await tx.execute('insert into side_effect (consumer, event_id, delivery) values (?, ?, ?)', ['poison-consumer', event.id, event.deliveryCount]);
      }),
    };
    const consumer = await events.subscribe(subscription);
    await eventually(async () => {
      const info = await jsm.streams.info(`${settings.stream}_DLQ`);
      return info.state.messages === 3 && (await sideEffects(db, 'poison-consumer')).length === 3;
    }, 'dead letters and handled events');
    await eventually(async () => (await jsm.consumers.info(settings.stream, 'poison-consumer')).num_ack_pending === 0, 'acks');
    const stats = consumer.stats();
    await consumer.stop();

    // The handler ran in the trace the relay published the event in.
    await processor.forceFlush();
    const published = spansOf(`${TASK_ASSIGNED} publish`, good1!)[0]!;
    const processed = spansOf(`${TASK_ASSIGNED} process`, good1!)[0]!;
    expect(processed.parentSpanContext?.spanId).toBe(published.spanContext().spanId);
    expect(processed.spanContext().traceId).toBe(published.spanContext().traceId);

    expect((await sideEffects(db, 'poison-consumer')).map((e) => e.event_id)).toEqual([good1, good2, good3]);
    expect(attempts.get(poison)).toBe(3);
    expect(attempts.get(permanent)).toBe(1);
    expect(stats).toMatchObject({ handled: 3, deadLettered: 3, failed: 2 });
    const letters = await streamMessages(jsm, `${settings.stream}_DLQ`);
    const byReason = letters.map((m) => ({
      consumer: m.header.get(DEAD_LETTER_HEADERS.consumer),
      deliveries: m.header.get(DEAD_LETTER_HEADERS.deliveries),
      reason: m.header.get(DEAD_LETTER_HEADERS.reason),
      type: m.header.get(EVENT_TYPE_HEADER),
      subject: m.subject,
    }));
    expect(byReason).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ consumer: 'poison-consumer', deliveries: '3', reason: expect.stringContaining('keeps failing'), type: TASK_ASSIGNED }),
        expect.objectContaining({ deliveries: '1', reason: expect.stringContaining('cannot ever handle') }),
        expect.objectContaining({ reason: expect.stringContaining('undecodable'), subject: `${settings.subjectPrefix}_dlq.poison-consumer.task._.task.assigned` }),
      ]),
    );
  });
});
