import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import {
  backoffFor,
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_DELIVER,
  maxBatchOf,
  type ConsumerStats,
  type EventSubscription,
} from '../event-bus.ts';
import { recordDelivery } from '../metrics.ts';
import type { StreamSettings } from '../stream.ts';
import { deadLetterMessage } from './dead-letter.ts';

/** Why a message will never be handled by this subscriber. */
export interface GiveUp {
  reason: string;
  err: unknown;
  eventId: string | undefined;
  /** The envelope did not decode (else: the handler failed for the last time, or permanently). */
  undecodable: boolean;
}

/**
 * How a subscriber settles its messages: how many it pulls ahead, how it acks, how long it waits before a
 * redelivery, and what becomes of a message it gives up on. One policy per kind of subscriber.
 */
export interface DeliveryPolicy {
  /** Messages pulled ahead and taken per round. */
  readonly pullAhead: number;
  /** Acks are not waited for (flushed on stop instead). */
  readonly quickAcks: boolean;
  /** On stop, what was pulled ahead is handled too (else only what is in hand). */
  readonly drainsOnStop: boolean;
  readonly maxDeliver: number;
  /** Acknowledges a handled message. */
  ack(msg: JsMsg): Promise<void>;
  /** Acknowledges, without waiting, a message that is not this subscriber's; a lost ack only brings it back. */
  skip(msg: JsMsg): void;
  /** Asks for a redelivery after the subscription's backoff; returns the delay. */
  retry(msg: JsMsg, deliveryCount: number): number;
  giveUp(js: JetStreamClient, msg: JsMsg, why: GiveUp): Promise<void>;
}

function acking(ackless: boolean, quickAcks: boolean) {
  return {
    async ack(msg: JsMsg): Promise<void> {
      if (ackless) return;
      if (quickAcks) msg.ack();
      else await msg.ackAck();
    },
    skip(msg: JsMsg): void {
      if (!ackless) msg.ack();
    },
  };
}

/**
 * A durable work-queue consumer shared by replicas: without a batch handler one message at a time, each ack
 * confirmed by the server (replicas share the load evenly and a stopped one holds nothing back); with one,
 * a batch pulled ahead and acked without waiting (a lost ack is a redelivery its idempotency absorbs).
 * What it gives up on goes to the dead-letter stream.
 */
export function workQueuePolicy(
  subscription: EventSubscription,
  settings: StreamSettings,
  stats: ConsumerStats,
  log: Logger,
): DeliveryPolicy {
  const batching = maxBatchOf(subscription) > 1;
  return {
    pullAhead: batching ? maxBatchOf(subscription) : 1,
    quickAcks: batching,
    drainsOnStop: batching,
    maxDeliver: subscription.maxDeliver ?? DEFAULT_MAX_DELIVER,
    ...acking(false, batching),
    retry: (msg, deliveryCount) => nakWithBackoff(subscription, msg, deliveryCount),
    async giveUp(js, msg, why) {
      await deadLetterMessage(js, settings, subscription.consumer, msg, why.reason, why.eventId);
      stats.deadLettered++;
      recordDelivery(subscription.consumer, 'dead_lettered');
      log.error({ eventId: why.eventId, subject: msg.subject, deliveries: msg.info.deliveryCount, reason: why.reason }, 'event dead-lettered');
    },
  };
}

/**
 * A broadcast subscriber (its own ephemeral consumer: nothing to share with replicas): pulls ahead, acks
 * without waiting (or not at all with maxDeliver 1, ack policy none), and drops what it gives up on: its
 * miss is its own, no dead letter.
 */
export function broadcastPolicy(subscription: EventSubscription, log: Logger): DeliveryPolicy {
  const maxDeliver = subscription.maxDeliver ?? DEFAULT_MAX_DELIVER;
  const batch = maxBatchOf(subscription);
  const acks = acking(maxDeliver === 1, true);
  return {
    pullAhead: batch > 1 ? batch : DEFAULT_MAX_BATCH,
    quickAcks: true,
    drainsOnStop: false,
    maxDeliver,
    ...acks,
    retry: (msg, deliveryCount) => nakWithBackoff(subscription, msg, deliveryCount),
    async giveUp(_js, msg, why) {
      if (why.undecodable) log.warn({ err: why.err, subject: msg.subject }, 'broadcast subscriber skipped an undecodable event');
      else log.warn({ err: why.err, eventId: why.eventId }, 'broadcast handler gave up on an event');
      await acks.ack(msg);
    },
  };
}

function nakWithBackoff(subscription: EventSubscription, msg: JsMsg, deliveryCount: number): number {
  const delay = backoffFor(subscription, deliveryCount);
  msg.nak(delay);
  return delay;
}
