import { nanos, headers as newHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { extractTraceContext } from '../trace-context.ts';
import { decodeEnvelope, filterSubjectFor, subjectParts, type EventEnvelope, type ReceivedEvent } from './envelope.ts';
import {
  assertSubscription,
  backoffFor,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_DELIVER,
  maxBatchOf,
  PermanentEventError,
  type ConsumerStats,
  type EventSubscription,
  type RunningSubscription,
} from './event-bus.ts';
import { deadLetterPrefix, type StreamSettings } from './stream.ts';
import { initConsumerCounters, observeConsumerPending, recordDelivery } from './metrics.ts';
import { handleBatchInSpan, handleInSpan } from './tracing.ts';

export interface ConsumerTimings {
  /** How long the server waits for an ack before redelivering (a consumer that died holding an event). */
  ackWaitMs: number;
}

/** Headers a dead letter carries besides the original ones. */
export const DEAD_LETTER_HEADERS = {
  consumer: 'Taskmesh-Dead-Letter-Consumer',
  reason: 'Taskmesh-Dead-Letter-Reason',
  deliveries: 'Taskmesh-Dead-Letter-Deliveries',
  subject: 'Taskmesh-Original-Subject',
  sequence: 'Taskmesh-Original-Sequence',
} as const;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A broadcast subscriber's own consumer: ephemeral (the server deletes it after a minute without this
 * subscriber), starting at new messages. Returns its server-assigned name.
 */
async function createEphemeralConsumer(
  jsm: JetStreamManager,
  settings: StreamSettings,
  subscription: EventSubscription,
  timings: ConsumerTimings,
): Promise<string> {
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const info = await jsm.consumers.add(settings.stream, {
    // Nothing to redeliver: the server need not track (and the subscriber need not send) acks.
    ack_policy: maxDeliver === 1 ? AckPolicy.None : AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(timings.ackWaitMs),
    max_deliver: maxDeliver,
    inactive_threshold: nanos(60_000),
    filter_subject: filterSubjectFor(settings.subjectPrefix, subscription.types),
    description: `Taskmesh broadcast subscriber ${subscription.consumer}`,
  });
  return info.name;
}

/** Creates the durable pull consumer, or updates an existing one to this configuration. */
async function ensureConsumer(
  jsm: JetStreamManager,
  settings: StreamSettings,
  subscription: EventSubscription,
  timings: ConsumerTimings,
): Promise<void> {
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const config = {
    ack_wait: nanos(timings.ackWaitMs),
    // Two deliveries of slack over ours: the last delivery's handler may have died before dead-lettering.
    max_deliver: maxDeliver + 2,
    max_ack_pending: 1_000,
    description: `Taskmesh consumer ${subscription.consumer}`,
  };
  const filterSubject = filterSubjectFor(settings.subjectPrefix, subscription.types);
  try {
    await jsm.consumers.add(settings.stream, {
      ...config,
      durable_name: subscription.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filterSubject,
    });
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    // It exists with another configuration (an older release of the service): bring it up to date.
    const existing = await jsm.consumers.info(settings.stream, subscription.consumer);
    const widened = existing.config.filter_subject === filterSubject ? {} : { filter_subject: filterSubject };
    try {
      await jsm.consumers.update(settings.stream, subscription.consumer, { ...config, ...widened });
    } catch (updateErr) {
      // nats-server 2.9 cannot change a filter: say what to do instead of silently missing event types.
      throw new Error(
        `consumer ${subscription.consumer} filters ${existing.config.filter_subject ?? '(all)'} but needs ${filterSubject}; ` +
          `delete it (it is recreated from the start of the stream; handlers skip what they processed) or upgrade NATS`,
        { cause: updateErr },
      );
    }
  }
}

/**
 * One durable pull consumer: explicit ack after the handler resolved; a failure is nak'ed with the
 * subscription's backoff; after maxDeliver deliveries (or a PermanentEventError, or an envelope that does not
 * decode) the message is copied to the dead-letter stream and acked, so it never blocks what follows.
 * Messages are handled in stream order: one at a time through `handle` (one pulled at a time, each ack
 * confirmed by the server), or, when the subscription has `handleBatch`, up to `maxBatch` pulled ahead and
 * whatever is already here handed over in one call, then acked without waiting for confirmation; a batch
 * that throws falls back to `handle` per message. stop() drains: what is in hand (for a batching consumer,
 * everything pulled ahead) is finished and acked, nothing more is pulled. A broadcast subscriber with
 * maxDeliver 1 uses ack policy none.
 */
export function startJetStreamConsumer(args: {
  ready: Promise<{ js: JetStreamClient; jsm: JetStreamManager; nc?: NatsConnection }>;
  settings: StreamSettings;
  timings: ConsumerTimings;
  subscription: EventSubscription;
  log: Logger;
}): RunningSubscription & { active: Promise<void> } {
  const { settings, subscription, timings } = args;
  assertSubscription(subscription);
  if (subscription.delivery !== 'broadcast') initConsumerCounters(subscription.consumer);
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const log = args.log.child({ consumer: subscription.consumer });
  const stats: ConsumerStats = { handled: 0, failed: 0, deadLettered: 0 };
  const types = new Set(subscription.types);
  const broadcast = subscription.delivery === 'broadcast';
  const maxBatch = maxBatchOf(subscription);
  const batching = maxBatch > 1;
  /**
   * Messages pulled ahead and taken per round: a batch for handleBatch; for a broadcast subscriber (its own
   * consumer: nothing to share with replicas) as many, handled one by one; otherwise one.
   */
  const pullAhead = batching ? maxBatch : broadcast ? DEFAULT_MAX_BATCH : 1;
  /** Acks not waited for: batching (idempotent) and broadcast (best effort) subscribers. */
  const quickAcks = batching || broadcast;
  /** A broadcast subscriber that never wants a redelivery needs no acks at all (ack policy none). */
  const ackless = broadcast && maxDeliver === 1;
  /** The durable name, or the ephemeral consumer's name once created. */
  let consumerName: string | undefined = broadcast ? undefined : subscription.consumer;
  let jsmForCleanup: JetStreamManager | undefined;
  let connection: NatsConnection | undefined;
  let markActive!: () => void;
  /** Resolves once the consumer exists on the server (from then on no event is missed). */
  const active = new Promise<void>((resolve) => (markActive = resolve));
  let stopping = false;
  let current: ConsumerMessages | undefined;
  /** Stops reporting the durable consumer's num_pending (metrics.ts). */
  let stopObserving: (() => void) | undefined;

  async function deadLetter(js: JetStreamClient, msg: JsMsg, reason: string, eventId: string | undefined) {
    const h: MsgHdrs = newHeaders();
    for (const [key, values] of msg.headers ?? []) {
      if (key.toLowerCase() !== 'nats-msg-id') for (const value of values) h.append(key, value);
    }
    h.set(DEAD_LETTER_HEADERS.consumer, subscription.consumer);
    h.set(DEAD_LETTER_HEADERS.reason, reason.slice(0, 1_000).replace(/[\r\n]+/g, ' '));
    h.set(DEAD_LETTER_HEADERS.deliveries, String(msg.info.deliveryCount));
    h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
    h.set(DEAD_LETTER_HEADERS.sequence, String(msg.seq));
    const tail = msg.subject.startsWith(`${settings.subjectPrefix}.`)
      ? msg.subject.slice(settings.subjectPrefix.length + 1)
      : msg.subject;
    await js.publish(`${deadLetterPrefix(settings)}.${subscription.consumer}.${tail}`, msg.data, {
      msgID: `${subscription.consumer}:${eventId ?? `seq-${msg.seq}`}`,
      headers: h,
    });
    await msg.ackAck();
    stats.deadLettered++;
    recordDelivery(subscription.consumer, 'dead_lettered');
    log.error({ eventId, subject: msg.subject, deliveries: msg.info.deliveryCount, reason }, 'event dead-lettered');
  }

  /** `<service> <suffix>` of every handled type's subject (`<prefix>.<service>.<org>.<suffix>`). */
  const handledSubjects = (() => {
    try {
      return new Set(
        subscription.types.map((type) => {
          const { service, suffix } = subjectParts(type);
          return `${service} ${suffix}`;
        }),
      );
    } catch {
      return undefined; // a type without a subject: the consumer's set-up reports it
    }
  })();
  const subjectStart = `${settings.subjectPrefix}.`;

  /** False only for a subject that cannot carry a handled type; anything unexpected is decoded and checked. */
  function mayBeHandled(subject: string): boolean {
    if (!handledSubjects || !subject.startsWith(subjectStart)) return true;
    const tokens = subject.slice(subjectStart.length).split('.');
    if (tokens.length < 3) return true;
    return handledSubjects.has(`${tokens[0]} ${tokens.slice(2).join('.')}`);
  }

  /** Acknowledges a handled (or skipped) message: waiting for the server's confirmation only one at a time. */
  async function ack(msg: JsMsg): Promise<void> {
    if (ackless) return;
    // Batching consumers do not wait: a lost ack means a redelivery, which their idempotency makes a no-op;
    // a broadcast subscriber's redelivery is as harmless.
    if (quickAcks) msg.ack();
    else await msg.ackAck();
  }

  function receivedEvent(msg: JsMsg, envelope: EventEnvelope): ReceivedEvent {
    const carrier: Record<string, string> = {};
    for (const [key, values] of msg.headers ?? []) if (values[0] !== undefined) carrier[key.toLowerCase()] = values[0];
    return { ...envelope, deliveryCount: msg.info.deliveryCount, traceContext: extractTraceContext(carrier) };
  }

  /** Decodes a message; undecodable ones are dead-lettered, types not handled acked unseen (undefined for both). */
  async function accept(js: JetStreamClient, msg: JsMsg): Promise<ReceivedEvent | undefined> {
    // The filter subject may be wider than the handled types (one filter per consumer on nats-server 2.9):
    // what the subject already says is not ours is skipped undecoded. Not waiting for this ack's
    // confirmation: if it is lost, the event comes back and is skipped again.
    if (!mayBeHandled(msg.subject)) {
      if (!ackless) msg.ack();
      return undefined;
    }
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(msg.data);
    } catch (err) {
      if (broadcast) {
        log.warn({ err, subject: msg.subject }, 'broadcast subscriber skipped an undecodable event');
        await ack(msg);
      } else {
        await deadLetter(js, msg, `undecodable envelope: ${String(err)}`, msg.headers?.get('Nats-Msg-Id') || undefined);
      }
      return undefined;
    }
    if (!types.has(envelope.type)) {
      if (!ackless) msg.ack();
      return undefined;
    }
    return receivedEvent(msg, envelope);
  }

  /** One event through `handle`: ack, or nak with backoff, or dead-letter. */
  async function handleOne(js: JetStreamClient, msg: JsMsg, event: ReceivedEvent): Promise<void> {
    try {
      await handleInSpan(subscription.consumer, event, () => subscription.handle(event));
    } catch (err) {
      if (broadcast && (err instanceof PermanentEventError || event.deliveryCount >= maxDeliver)) {
        // A broadcast subscriber's miss is its own; no dead letter for it.
        log.warn({ err, eventId: event.id }, 'broadcast handler gave up on an event');
        await ack(msg);
        return;
      }
      if (err instanceof PermanentEventError || event.deliveryCount >= maxDeliver) {
        await deadLetter(js, msg, String(err), event.id);
        return;
      }
      stats.failed++;
      recordDelivery(subscription.consumer, 'failed');
      const delay = backoffFor(subscription, event.deliveryCount);
      log.warn({ err, eventId: event.id, deliveries: event.deliveryCount, retryInMs: delay }, 'event handler failed; will redeliver');
      msg.nak(delay);
      return;
    }
    // If this ack is lost the event comes back after ack_wait and the handler sees it as a duplicate.
    await ack(msg);
    stats.handled++;
    recordDelivery(subscription.consumer, 'handled', event.occurTime);
  }

  /** Runs `settle`; a failure to ack or dead-letter (connection trouble) leaves the message to be redelivered. */
  async function settling(msg: JsMsg, settle: () => Promise<void>): Promise<void> {
    try {
      await settle();
    } catch (err) {
      log.warn({ err, seq: msg.seq }, 'could not settle message; it will be redelivered');
    }
  }

  /**
   * Messages as pulled, in stream order: one through `handle`, several through `handleBatch` (acked after it
   * resolved); a batch that throws is handed to `handle` one message at a time, so a poison event fails alone.
   */
  async function handleMessages(js: JetStreamClient, msgs: readonly JsMsg[]): Promise<void> {
    const accepted: { msg: JsMsg; event: ReceivedEvent }[] = [];
    for (const msg of msgs) {
      await settling(msg, async () => {
        const event = await accept(js, msg);
        if (event) accepted.push({ msg, event });
      });
    }
    if (accepted.length === 0) return;
    if (accepted.length > 1 && subscription.handleBatch) {
      const events = accepted.map((a) => a.event);
      let handled = false;
      try {
        await handleBatchInSpan(subscription.consumer, events, () => subscription.handleBatch!(events));
        handled = true;
      } catch (err) {
        log.info({ err, events: events.length }, 'event batch failed; handling its events one by one');
      }
      if (handled) {
        for (const { msg, event } of accepted) {
          await settling(msg, () => ack(msg));
          stats.handled++;
          recordDelivery(subscription.consumer, 'handled', event.occurTime);
        }
        return;
      }
    }
    for (const { msg, event } of accepted) await settling(msg, () => handleOne(js, msg, event));
  }

  let signalStop!: () => void;
  const stopSignal = new Promise<undefined>((resolve) => (signalStop = () => resolve(undefined)));

  const done = (async () => {
    // Stopping must not wait for a NATS that never came up.
    const ready = await Promise.race([args.ready, stopSignal]).catch(() => undefined);
    if (!ready) return;
    jsmForCleanup = ready.jsm;
    connection = ready.nc;
    let consumerReady = false;
    while (!stopping) {
      try {
        if (!consumerReady) {
          if (broadcast) consumerName = await createEphemeralConsumer(ready.jsm, settings, subscription, timings);
          else await ensureConsumer(ready.jsm, settings, subscription, timings);
          consumerReady = true;
          if (!broadcast) {
            stopObserving?.();
            stopObserving = observeConsumerPending(subscription.consumer, async () => (await ready.jsm.consumers.info(settings.stream, subscription.consumer)).num_pending);
          }
          markActive();
        }
        const consumer = await ready.js.consumers.get(settings.stream, consumerName!);
        // A shared consumer without a batch handler pulls one message at a time: replicas share the load evenly
        // and a stopped replica holds nothing back. Others pull ahead (pullAhead).
        current = await consumer.consume({ max_messages: pullAhead, expires: 5_000 });
        if (stopping) await current.close();
        // The client re-pulls after reconnects by itself; if the server still goes silent (a JetStream that
        // moved or restarted unseen), start over, as the client's documentation advises.
        const watched = current;
        void (async () => {
          for await (const status of watched.status()) {
            if (status.type === 'heartbeats_missed' && status.count >= 2) {
              log.warn({ missed: status.count }, 'consumer heartbeats missed; pulling anew');
              await watched.close();
              return;
            }
          }
        })().catch(() => undefined);
        const messages = current[Symbol.asyncIterator]();
        /** A next() that did not resolve at once: the next round takes it over (never two next() at a time). */
        let waiting: Promise<IteratorResult<JsMsg>> | undefined;
        const next = () => (waiting ??= messages.next());
        for (;;) {
          const first = await next();
          waiting = undefined;
          if (first.done) break;
          const batch = [first.value];
          // What is already here joins the batch; nothing waits for more to arrive. The iterator's pending
          // count can include its own status callbacks, so a message counts as here only if next() resolves
          // before the event loop's next turn.
          let ended = false;
          while (batch.length < pullAhead && watched.getPending() > 0) {
            const result = await Promise.race([next(), new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
            if (result === undefined) break;
            waiting = undefined;
            if (result.done) {
              ended = true;
              break;
            }
            batch.push(result.value);
          }
          await handleMessages(ready.js, batch);
          if (ended) break;
          // Stopping: a shared batching consumer also handles what it pulled ahead (the closed pull yields it,
          // then ends), so nothing waits for ack_wait; others stop after what is in hand (a broadcast
          // subscriber's consumer is deleted: what it pulled ahead is simply not its any more).
          if (stopping && (!batching || broadcast)) {
            await messages.return?.(undefined);
            break;
          }
        }
        // The pull ended without an error (closed after missed heartbeats): pull again, without spinning.
        if (!stopping) await sleep(100);
      } catch (err) {
        if (stopping) break;
        // Set the consumer up again: an ephemeral one may have expired during an outage.
        consumerReady = false;
        log.warn({ err }, 'consumer interrupted; resuming');
        await sleep(1_000);
      }
    }
  })();

  return {
    consumer: subscription.consumer,
    active,
    stats: () => ({ ...stats }),
    async stop() {
      stopping = true;
      stopObserving?.();
      signalStop();
      await current?.close();
      await done;
      // Acks that were not waited for go out before the caller closes the connection or exits.
      if (quickAcks && connection && !connection.isClosed()) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([connection.flush(), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))])
          .catch(() => undefined)
          .finally(() => clearTimeout(timer));
      }
      if (broadcast && consumerName && jsmForCleanup) {
        await jsmForCleanup.consumers.delete(settings.stream, consumerName).catch(() => undefined);
      }
    },
  };
}
