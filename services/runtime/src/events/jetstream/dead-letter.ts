import { headers as newHeaders, type MsgHdrs } from '@nats-io/nats-core';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { deadLetterPrefix, type StreamSettings } from '../stream.ts';

/** Headers a dead letter carries besides the original ones. */
export const DEAD_LETTER_HEADERS = {
  consumer: 'Taskmesh-Dead-Letter-Consumer',
  reason: 'Taskmesh-Dead-Letter-Reason',
  deliveries: 'Taskmesh-Dead-Letter-Deliveries',
  subject: 'Taskmesh-Original-Subject',
  sequence: 'Taskmesh-Original-Sequence',
} as const;

/**
 * Copies a message to the dead-letter stream (its original headers but the dedup id, plus why and where
 * from), deduplicated per consumer and event, then acks the original so it never blocks what follows.
 */
export async function deadLetterMessage(
  js: JetStreamClient,
  settings: StreamSettings,
  consumer: string,
  msg: JsMsg,
  reason: string,
  eventId: string | undefined,
): Promise<void> {
  const h: MsgHdrs = newHeaders();
  for (const [key, values] of msg.headers ?? []) {
    if (key.toLowerCase() !== 'nats-msg-id') for (const value of values) h.append(key, value);
  }
  h.set(DEAD_LETTER_HEADERS.consumer, consumer);
  h.set(DEAD_LETTER_HEADERS.reason, reason.slice(0, 1_000).replace(/[\r\n]+/g, ' '));
  h.set(DEAD_LETTER_HEADERS.deliveries, String(msg.info.deliveryCount));
  h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
  h.set(DEAD_LETTER_HEADERS.sequence, String(msg.seq));
  const tail = msg.subject.startsWith(`${settings.subjectPrefix}.`) ? msg.subject.slice(settings.subjectPrefix.length + 1) : msg.subject;
  await js.publish(`${deadLetterPrefix(settings)}.${consumer}.${tail}`, msg.data, {
    msgID: `${consumer}:${eventId ?? `seq-${msg.seq}`}`,
    headers: h,
  });
  await msg.ackAck();
}
