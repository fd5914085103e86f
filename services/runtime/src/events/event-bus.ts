import type { EventEnvelope, ReceivedEvent } from './envelope.ts';

/** A handler: resolve when the event is fully handled; throw to have it redelivered later. */
export type EventHandler = (event: ReceivedEvent) => Promise<void>;

/**
 * Handles several events at once, with the same effect as `handle` on each of them in order, and all or
 * nothing (one transaction): resolve when every one is handled; throw and none of them counts as handled.
 */
export type EventBatchHandler = (events: readonly ReceivedEvent[]) => Promise<void>;

/** Most events per handleBatch call unless the subscription says otherwise. */
export const DEFAULT_MAX_BATCH = 256;

/**
 * A durable consumer. Replicas that subscribe with the same `consumer` name share its deliveries (each event
 * goes to one of them); different names each get every event.
 */
export interface EventSubscription {
  /** Durable name, unique per purpose: e.g. 'notify', 'audit'. Letters, digits, '-' and '_'. */
  consumer: string;
  /** Fully qualified payload types handled, e.g. ['taskmesh.task.v1.TaskAssigned']. */
  types: readonly string[];
  handle: EventHandler;
  /**
   * Optional, for throughput: the bus hands over what is already waiting (up to `maxBatch` events, in
   * delivery order; it never waits to fill a batch, so at low load a batch is one event) in one call. When
   * it throws, the bus falls back to `handle`, one event at a time, for each event of that batch, so a
   * poison event fails (and is retried and dead-lettered) alone and the others are handled once. Because
   * a batch can be handed over again after a lost ack or a failure, it must be idempotent per event, as
   * `handle` must (processOnceBatch does that). Subscriptions with it are acknowledged without waiting for
   * the server's confirmation (a lost ack means a redelivery, which the idempotency makes a no-op).
   */
  handleBatch?: EventBatchHandler;
  /** Most events per handleBatch call. Default 256. */
  maxBatch?: number;
  /** Deliveries before an event that keeps failing goes to the dead-letter path. Default 5. */
  maxDeliver?: number;
  /** Wait before redelivery number n+1 after the n-th failure (the last value repeats). */
  backoffMs?: readonly number[];
  /**
   * 'shared' (default): a durable consumer; replicas split the events, and every event is delivered
   * at least once, from the start of the stream. 'broadcast': every subscriber (every replica, every
   * WatchBoard stream) gets each event published from now on while it is subscribed, through an ephemeral
   * consumer the server forgets when it is gone; nothing is dead-lettered and a failing handler never holds
   * up the outbox. For work that concerns the process itself (membership-cache eviction, live streams).
   * Broadcast handlers must not use processOnce with a table shared by replicas (one would suppress the rest).
   */
  delivery?: 'shared' | 'broadcast';
}

export const DEFAULT_MAX_DELIVER = 5;
export const DEFAULT_BACKOFF_MS: readonly number[] = [1_000, 5_000, 30_000, 60_000];

export function backoffFor(subscription: EventSubscription, failedDeliveries: number): number {
  const steps = subscription.backoffMs ?? DEFAULT_BACKOFF_MS;
  return steps[Math.min(failedDeliveries, steps.length) - 1] ?? 0;
}

/** Thrown by a handler for an event it can never handle (bad payload, impossible state): dead-lettered at once. */
export class PermanentEventError extends Error {
  override name = 'PermanentEventError';
}

export interface ConsumerStats {
  /** Deliveries whose handler resolved. */
  handled: number;
  /** Deliveries whose handler threw and that will be retried. */
  failed: number;
  deadLettered: number;
}

export interface RunningSubscription {
  readonly consumer: string;
  stats(): ConsumerStats;
  /** Stops taking new events and waits for the one in hand (graceful drain). */
  stop(): Promise<void>;
}

/** Where an event ends up when no delivery succeeded. */
export interface DeadLetter {
  consumer: string;
  event: EventEnvelope;
  reason: string;
  deliveries: number;
}

/**
 * The carrier between outbox relays and consumers: JetStream when NATS_URL is set, in-process otherwise.
 * Both keep the same contract: at-least-once delivery per consumer, bounded redelivery with backoff, a
 * dead-letter path; handlers make it effectively-once with processOnce() (processed-events.ts).
 */
export interface EventBus {
  readonly mode: 'jetstream' | 'in-process';
  /**
   * Resolves once the event is durably taken over: stored by JetStream (duplicates by id are dropped),
   * or, in-process, handled (or dead-lettered) by every subscriber of its type. Rejects otherwise, and the
   * relay keeps the outbox row for the next attempt.
   */
  publish(event: EventEnvelope, traceHeaders: Record<string, string>): Promise<void>;
  /**
   * Optional: publish for several events of one outbox, in order, with the same guarantees as publishing
   * them one by one. Resolves once all were taken over; otherwise rejects with a PartialPublishError that
   * says how many of the first ones were (the relay marks those sent and keeps the rest).
   */
  publishBatch?(items: readonly PublishItem[]): Promise<void>;
  subscribe(subscription: EventSubscription): Promise<RunningSubscription>;
  /**
   * Call once every consumer of this process has subscribed. The in-process bus delivers nothing before
   * (the events wait in their outboxes); for JetStream, whose consumers are durable, it changes nothing.
   */
  start(): void;
  /** Stops every subscription (draining) and disconnects. */
  close(): Promise<void>;
}

export interface PublishItem {
  event: EventEnvelope;
  traceHeaders: Record<string, string>;
}

/** Rejection of publishBatch: the first `published` items were taken over; `cause` is why the next was not. */
export class PartialPublishError extends Error {
  override name = 'PartialPublishError';
  constructor(
    readonly published: number,
    override readonly cause: unknown,
  ) {
    super(`published ${published} events of a batch: ${String(cause)}`);
  }
}

/** Thrown by the in-process bus's publish when a subscriber failed: `retryInMs` is its backoff. */
export class DeliveryDeferredError extends Error {
  override name = 'DeliveryDeferredError';
  constructor(
    message: string,
    readonly retryInMs: number,
  ) {
    super(message);
  }
}

const CONSUMER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function assertSubscription(subscription: EventSubscription): void {
  if (!CONSUMER_NAME.test(subscription.consumer)) {
    throw new Error(`consumer name "${subscription.consumer}" must be 1-64 letters, digits, '-' or '_'`);
  }
  if (subscription.types.length === 0) throw new Error(`consumer ${subscription.consumer} handles no event type`);
  if ((subscription.maxDeliver ?? DEFAULT_MAX_DELIVER) < 1) throw new Error('maxDeliver must be at least 1');
  if ((subscription.maxBatch ?? DEFAULT_MAX_BATCH) < 1) throw new Error('maxBatch must be at least 1');
}

export function maxBatchOf(subscription: EventSubscription): number {
  return subscription.handleBatch ? Math.max(1, Math.floor(subscription.maxBatch ?? DEFAULT_MAX_BATCH)) : 1;
}
