import { nanos, headers as newHeaders, type MsgHdrs } from '@nats-io/nats-core';
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
import { decodeEnvelope, filterSubjectFor, type EventEnvelope, type ReceivedEvent } from './envelope.ts';
import {
  assertSubscription,
  backoffFor,
  DEFAULT_MAX_DELIVER,
  PermanentEventError,
  type ConsumerStats,
  type EventSubscription,
  type RunningSubscription,
} from './event-bus.ts';
import { deadLetterPrefix, type StreamSettings } from './stream.ts';
import { recordDelivery } from './metrics.ts';
import { handleInSpan } from './tracing.ts';

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
  const info = await jsm.consumers.add(settings.stream, {
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
    ack_wait: nanos(timings.ackWaitMs),
    max_deliver: subscription.maxDeliver ?? DEFAULT_MAX_DELIVER,
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
 * Messages are handled one at a time, in stream order. stop() drains: the message in hand is finished and
 * acked, nothing more is pulled.
 */
export function startJetStreamConsumer(args: {
  ready: Promise<{ js: JetStreamClient; jsm: JetStreamManager }>;
  settings: StreamSettings;
  timings: ConsumerTimings;
  subscription: EventSubscription;
  log: Logger;
}): RunningSubscription & { active: Promise<void> } {
  const { settings, subscription, timings } = args;
  assertSubscription(subscription);
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const log = args.log.child({ consumer: subscription.consumer });
  const stats: ConsumerStats = { handled: 0, failed: 0, deadLettered: 0 };
  const types = new Set(subscription.types);
  const broadcast = subscription.delivery === 'broadcast';
  /** The durable name, or the ephemeral consumer's name once created. */
  let consumerName: string | undefined = broadcast ? undefined : subscription.consumer;
  let jsmForCleanup: JetStreamManager | undefined;
  let markActive!: () => void;
  /** Resolves once the consumer exists on the server (from then on no event is missed). */
  const active = new Promise<void>((resolve) => (markActive = resolve));
  let stopping = false;
  let current: ConsumerMessages | undefined;

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

  async function handleMessage(js: JetStreamClient, msg: JsMsg): Promise<void> {
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(msg.data);
    } catch (err) {
      await deadLetter(js, msg, `undecodable envelope: ${String(err)}`, msg.headers?.get('Nats-Msg-Id') || undefined);
      return;
    }
    // The filter subject may be wider than the handled types (one filter per consumer on nats-server 2.9).
    if (!types.has(envelope.type)) {
      await msg.ackAck();
      return;
    }
    const carrier: Record<string, string> = {};
    for (const [key, values] of msg.headers ?? []) if (values[0] !== undefined) carrier[key.toLowerCase()] = values[0];
    const event: ReceivedEvent = {
      ...envelope,
      deliveryCount: msg.info.deliveryCount,
      traceContext: extractTraceContext(carrier),
    };
    try {
      await handleInSpan(subscription.consumer, event, () => subscription.handle(event));
    } catch (err) {
      if (broadcast && (err instanceof PermanentEventError || event.deliveryCount >= maxDeliver)) {
        // A broadcast subscriber's miss is its own; no dead letter for it.
        log.warn({ err, eventId: event.id }, 'broadcast handler gave up on an event');
        await msg.ackAck();
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
    await msg.ackAck();
    stats.handled++;
    recordDelivery(subscription.consumer, 'handled', event.occurTime);
  }

  let signalStop!: () => void;
  const stopSignal = new Promise<undefined>((resolve) => (signalStop = () => resolve(undefined)));

  const done = (async () => {
    // Stopping must not wait for a NATS that never came up.
    const ready = await Promise.race([args.ready, stopSignal]).catch(() => undefined);
    if (!ready) return;
    jsmForCleanup = ready.jsm;
    let consumerReady = false;
    while (!stopping) {
      try {
        if (!consumerReady) {
          if (broadcast) consumerName = await createEphemeralConsumer(ready.jsm, settings, subscription, timings);
          else await ensureConsumer(ready.jsm, settings, subscription, timings);
          consumerReady = true;
          markActive();
        }
        const consumer = await ready.js.consumers.get(settings.stream, consumerName!);
        // One message at a time: replicas share the load evenly and a stopped replica holds nothing back.
        current = await consumer.consume({ max_messages: 1, expires: 5_000 });
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
        for await (const msg of current) {
          try {
            await handleMessage(ready.js, msg);
          } catch (err) {
            // Ack or dead-letter publish failed (connection trouble): the server redelivers after ack_wait.
            log.warn({ err, seq: msg.seq }, 'could not settle message; it will be redelivered');
          }
          if (stopping) break;
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
      signalStop();
      await current?.close();
      await done;
      if (broadcast && consumerName && jsmForCleanup) {
        await jsmForCleanup.consumers.delete(settings.stream, consumerName).catch(() => undefined);
      }
    },
  };
}
