import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { extractTraceContext } from '../../trace-context.ts';
import { decodeEnvelope, type EventEnvelope, type ReceivedEvent } from '../envelope.ts';
import { PermanentEventError, type ConsumerStats, type EventSubscription } from '../event-bus.ts';
import { recordDelivery } from '../metrics.ts';
import { handleBatchInSpan, handleInSpan } from '../tracing.ts';
import type { DeliveryPolicy } from './delivery-policy.ts';
import { subjectMayCarry } from './subject-filter.ts';

/** Hands pulled messages to the subscription's handlers, in stream order, and settles each by the policy. */
export type MessageHandling = (js: JetStreamClient, msgs: readonly JsMsg[]) => Promise<void>;

/**
 * Messages as pulled, in stream order: one through `handle`, several through `handleBatch` (acked after it
 * resolved); a batch that throws is handed to `handle` one message at a time, so a poison event fails alone.
 * A failed `handle` is retried with backoff until maxDeliver deliveries, or given up at once for a
 * PermanentEventError.
 */
export function messageHandling(args: {
  subscription: EventSubscription;
  subjectPrefix: string;
  policy: DeliveryPolicy;
  stats: ConsumerStats;
  log: Logger;
}): MessageHandling {
  const { subscription, policy, stats, log } = args;
  const types = new Set(subscription.types);
  const mayBeHandled = subjectMayCarry(args.subjectPrefix, subscription.types);

  function receivedEvent(msg: JsMsg, envelope: EventEnvelope): ReceivedEvent {
    const carrier: Record<string, string> = {};
    for (const [key, values] of msg.headers ?? []) if (values[0] !== undefined) carrier[key.toLowerCase()] = values[0];
    return { ...envelope, deliveryCount: msg.info.deliveryCount, traceContext: extractTraceContext(carrier) };
  }

  /** Decodes a message; undecodable ones are given up, types not handled skipped (undefined for both). */
  async function accept(js: JetStreamClient, msg: JsMsg): Promise<ReceivedEvent | undefined> {
    // What the subject already says is not ours is skipped undecoded.
    if (!mayBeHandled(msg.subject)) {
      policy.skip(msg);
      return undefined;
    }
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(msg.data);
    } catch (err) {
      const eventId = msg.headers?.get('Nats-Msg-Id') || undefined;
      await policy.giveUp(js, msg, { reason: `undecodable envelope: ${String(err)}`, err, eventId, undecodable: true });
      return undefined;
    }
    if (!types.has(envelope.type)) {
      policy.skip(msg);
      return undefined;
    }
    return receivedEvent(msg, envelope);
  }

  function counted(event: ReceivedEvent): void {
    stats.handled++;
    recordDelivery(subscription.consumer, 'handled', event.occurTime);
  }

  /** One event through `handle`: ack, or redeliver with backoff, or give up. */
  async function handleOne(js: JetStreamClient, msg: JsMsg, event: ReceivedEvent): Promise<void> {
    try {
      await handleInSpan(subscription.consumer, event, () => subscription.handle(event));
    } catch (err) {
      if (err instanceof PermanentEventError || event.deliveryCount >= policy.maxDeliver) {
        await policy.giveUp(js, msg, { reason: String(err), err, eventId: event.id, undecodable: false });
        return;
      }
      stats.failed++;
      recordDelivery(subscription.consumer, 'failed');
      const delay = policy.retry(msg, event.deliveryCount);
      log.warn({ err, eventId: event.id, deliveries: event.deliveryCount, retryInMs: delay }, 'event handler failed; will redeliver');
      return;
    }
    // If this ack is lost the event comes back after ack_wait and the handler sees it as a duplicate.
    await policy.ack(msg);
    counted(event);
  }

  /** Runs `settle`; a failure to ack or dead-letter (connection trouble) leaves the message to be redelivered. */
  async function settling(msg: JsMsg, settle: () => Promise<void>): Promise<void> {
    try {
      await settle();
    } catch (err) {
      log.warn({ err, seq: msg.seq }, 'could not settle message; it will be redelivered');
    }
  }

  return async (js, msgs) => {
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
          await settling(msg, () => policy.ack(msg));
          counted(event);
        }
        return;
      }
    }
    for (const { msg, event } of accepted) await settling(msg, () => handleOne(js, msg, event));
  };
}
