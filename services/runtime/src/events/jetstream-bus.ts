import { connect } from '@nats-io/transport-node';
import { headers, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { EVENT_TYPE_HEADER, encodeEnvelope, subjectFor, subjectParts } from './envelope.ts';
import type { EventBus, RunningSubscription } from './event-bus.ts';
import { startJetStreamConsumer, type ConsumerTimings } from './jetstream-consumer.ts';
import { DEFAULT_STREAM_SETTINGS, ensureEventStreams, type StreamSettings } from './stream.ts';

export interface JetStreamBusOptions extends Partial<StreamSettings>, Partial<ConsumerTimings> {
  /** NATS_URL: one URL or a comma-separated list of cluster URLs. */
  natsUrl: string;
  log: Logger;
  /** Connection name shown by the server, e.g. the service name. */
  name?: string;
  /** Longest wait for a PubAck (or for the first connection) before publish rejects. Default 5 s. */
  publishTimeoutMs?: number;
}

export interface JetStreamBus extends EventBus {
  readonly mode: 'jetstream';
  readonly settings: StreamSettings;
  /** Resolves once connected and the streams exist (publish and consumers wait for it on their own). */
  whenReady(): Promise<void>;
}

interface Ready {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * A broadcast subscription's types grouped by producing service, so that each group gets a consumer filtered to
 * that service's subjects (`<prefix>.<service>.…`) instead of one on `<prefix>.>` that receives, and skips, every
 * other service's events too (nats-server 2.9 takes one filter per consumer). Events of one service keep their
 * stream order; between services there is none to keep, since each service's relay publishes on its own.
 * Durable consumers are not split: their names (and positions) would change.
 */
function typesByService(types: readonly string[]): (readonly string[])[] {
  const groups = new Map<string, string[]>();
  for (const type of types) {
    let service: string;
    try {
      service = subjectParts(type).service;
    } catch {
      return [types]; // not a taskmesh type: the consumer's set-up reports it
    }
    const group = groups.get(service);
    if (group) group.push(type);
    else groups.set(service, [type]);
  }
  return [...groups.values()];
}

/**
 * JetStream as the carrier. Starting never waits for NATS: the connection (retried forever, as are
 * reconnects) and the idempotent stream set-up run in the background; until they succeed publish rejects,
 * so events stay in their outboxes, and consumers start consuming once they can.
 */
export function createJetStreamBus(options: JetStreamBusOptions): JetStreamBus {
  const settings: StreamSettings = {
    stream: options.stream ?? DEFAULT_STREAM_SETTINGS.stream,
    subjectPrefix: options.subjectPrefix ?? DEFAULT_STREAM_SETTINGS.subjectPrefix,
    replicas: options.replicas ?? DEFAULT_STREAM_SETTINGS.replicas,
    maxBytes: options.maxBytes ?? DEFAULT_STREAM_SETTINGS.maxBytes,
  };
  const timings: ConsumerTimings = { ackWaitMs: options.ackWaitMs ?? 30_000 };
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  const log = options.log.child({ component: 'jetstream-bus', stream: settings.stream });
  const subscriptions = new Set<RunningSubscription>();
  let closed = false;

  const ready: Promise<Ready> = (async () => {
    const nc = await connect({
      servers: options.natsUrl.split(',').map((s) => s.trim()),
      name: options.name ?? 'taskmesh',
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      // Otherwise every request (each publish's PubAck, each ackAck) makes two or three Error objects up front
      // to carry the caller's stack in case it fails: stack captures on the relay's hot path. A failure still
      // rejects with the same error types, without that stack.
      noAsyncTraces: true,
    });
    if (closed) {
      await nc.close();
      throw new Error('event bus closed');
    }
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect' || status.type === 'reconnect') log.warn({ status: status.type }, 'NATS connection');
      }
    })();
    const jsm = await jetstreamManager(nc);
    for (let attempt = 1; ; attempt++) {
      try {
        await ensureEventStreams(jsm, settings, log);
        break;
      } catch (err) {
        if (closed) throw err;
        log[attempt === 1 ? 'error' : 'warn']({ err, attempt }, 'cannot set up the event streams yet; retrying');
        await sleep(Math.min(1_000 * attempt, 10_000));
      }
    }
    log.info({ url: options.natsUrl }, 'JetStream event bus ready');
    return { nc, js: jetstream(nc, { timeout: publishTimeoutMs }), jsm };
  })();
  ready.catch((err: unknown) => {
    if (!closed) log.error({ err }, 'JetStream event bus failed to start');
  });

  return {
    mode: 'jetstream',
    settings,
    whenReady: () => ready.then(() => undefined),
    start() {},
    async publish(event, traceHeaders) {
      const { js } = await withTimeout(ready, publishTimeoutMs, 'NATS connection');
      const h = headers();
      h.set(EVENT_TYPE_HEADER, event.type);
      for (const [key, value] of Object.entries(traceHeaders)) h.set(key, value);
      await js.publish(subjectFor(settings.subjectPrefix, event), encodeEnvelope(event), {
        msgID: event.id,
        headers: h,
        timeout: publishTimeoutMs,
      });
    },
    async subscribe(subscription) {
      const split = subscription.delivery === 'broadcast' ? typesByService(subscription.types) : [];
      const parts = split.length > 1 ? split : [subscription.types];
      const consumers = parts.map((types) =>
        startJetStreamConsumer({ ready, settings, timings, subscription: parts.length > 1 ? { ...subscription, types } : subscription, log }),
      );
      const running: RunningSubscription =
        consumers.length === 1
          ? consumers[0]!
          : {
              consumer: subscription.consumer,
              stats: () => {
                const total = { handled: 0, failed: 0, deadLettered: 0 };
                for (const one of consumers) {
                  const s = one.stats();
                  total.handled += s.handled;
                  total.failed += s.failed;
                  total.deadLettered += s.deadLettered;
                }
                return total;
              },
              stop: async () => {
                await Promise.all(consumers.map((one) => one.stop()));
              },
            };
      subscriptions.add(running);
      // A broadcast subscriber starts at new events: it is subscribed only once its consumers exist.
      if (subscription.delivery === 'broadcast') await Promise.all(consumers.map((one) => one.active));
      return running;
    },
    async close() {
      closed = true;
      for (const running of subscriptions) await running.stop();
      const connection = await Promise.race([ready.then((r) => r.nc, () => undefined), sleep(0).then(() => undefined)]);
      if (connection && !connection.isClosed()) {
        // drain() flushes what is in flight; it cannot complete while disconnected.
        await withTimeout(connection.drain(), 5_000, 'NATS drain').catch(() => connection.close());
      }
    },
  };
}
