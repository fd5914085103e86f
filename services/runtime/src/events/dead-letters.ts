import { headers as newHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { decodeEnvelope } from './envelope.ts';
import { DEAD_LETTER_HEADERS } from './jetstream/dead-letter.ts';
import { deadLetterStreamConfig, type StreamSettings } from './stream.ts';

/** One message of the dead-letter stream, as `dlq list` shows it. */
export interface DeadLetter {
  /** Sequence in the dead-letter stream: the id `replay` takes. */
  seq: number;
  consumer: string;
  /** Where the event was published, and where a replay publishes it again. */
  originalSubject: string;
  reason: string;
  deliveries: number;
  deadLetteredAt: Date;
  /** From the envelope; undefined when the payload did not decode (the reason then says so). */
  eventId: string | undefined;
  eventType: string | undefined;
}

export class DeadLetterError extends Error {
  override name = 'DeadLetterError';
}

/** Headers the consumer added when dead-lettering; a replay drops them (and the old Nats-Msg-Id). */
const DROPPED_ON_REPLAY = new Set(
  [...Object.values(DEAD_LETTER_HEADERS), 'Nats-Msg-Id', 'Nats-Expected-Stream'].map((h) => h.toLowerCase()),
);
export const REPLAYED_FROM_HEADER = 'Taskmesh-Replayed-From';

/**
 * The dead-letter stream of one installation (EVENTS_STREAM/EVENTS_SUBJECT_PREFIX): list, and replay to the
 * event's original subject. A replay is stored in the event stream under its own message id
 * (`replay:<dlq stream>:<seq>`), so replaying one dead letter twice inside the duplicate window stores it
 * once; it then reaches every durable consumer of that subject again, and each skips an event id it has
 * processed already (processOnce), so only the consumer that had failed does the work. The dead letter is
 * deleted once the event stream has stored the replay.
 */
export class DeadLetters {
  private constructor(
    private readonly settings: Pick<StreamSettings, 'stream' | 'subjectPrefix'>,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
  ) {}

  static async open(nc: NatsConnection, settings: Pick<StreamSettings, 'stream' | 'subjectPrefix'>): Promise<DeadLetters> {
    return new DeadLetters(settings, jetstream(nc), await jetstreamManager(nc));
  }

  get streamName(): string {
    return deadLetterStreamConfig({ ...this.settings, replicas: 1, maxBytes: 0 }).name;
  }

  /** Every dead letter in stream order (optionally of one consumer), read with an ordered consumer. */
  async list(filter: { consumer?: string } = {}): Promise<DeadLetter[]> {
    const info = await this.jsm.streams.info(this.streamName).catch((err: unknown) => {
      throw new DeadLetterError(`dead-letter stream ${this.streamName} not found (${String(err)})`);
    });
    if (info.state.messages === 0) return [];
    const consumer = await this.js.consumers.get(this.streamName);
    const letters: DeadLetter[] = [];
    // An ordered consumer (ephemeral: the server removes it after the last fetch), read up to the last
    // sequence there was when the listing started; asking for no more than is left returns without waiting.
    for (let last = 0; last < info.state.last_seq && letters.length < info.state.messages; ) {
      const batch = await consumer.fetch({ max_messages: Math.min(256, info.state.messages - letters.length), expires: 5_000 });
      const before = letters.length;
      for await (const msg of batch) {
        last = msg.seq;
        letters.push(describe(msg.seq, msg.headers, msg.data, new Date(msg.info.timestampNanos / 1e6)));
      }
      if (letters.length === before) break;
    }
    return filter.consumer ? letters.filter((l) => l.consumer === filter.consumer) : letters;
  }

  /** Publishes dead letter `seq` to its original subject again and removes it from the dead-letter stream. */
  async replay(seq: number): Promise<DeadLetter> {
    const stored = await this.jsm.streams.getMessage(this.streamName, { seq }).catch(() => null);
    if (!stored) throw new DeadLetterError(`no dead letter ${seq} in ${this.streamName}`);
    const letter = describe(stored.seq, stored.header, stored.data, stored.time);
    if (!letter.originalSubject.startsWith(`${this.settings.subjectPrefix}.`)) {
      throw new DeadLetterError(
        `dead letter ${seq} came from ${JSON.stringify(letter.originalSubject)}, outside ${this.settings.subjectPrefix}.>; not replayed`,
      );
    }
    const h: MsgHdrs = newHeaders();
    for (const [key, values] of stored.header ?? []) {
      if (!DROPPED_ON_REPLAY.has(key.toLowerCase())) for (const value of values) h.append(key, value);
    }
    h.set(REPLAYED_FROM_HEADER, `${this.streamName}:${seq}`);
    await this.js.publish(letter.originalSubject, stored.data, {
      msgID: `replay:${this.streamName}:${seq}`,
      headers: h,
      expect: { streamName: this.settings.stream },
    });
    await this.jsm.streams.deleteMessage(this.streamName, seq, false);
    return letter;
  }

  /** Replays every dead letter (optionally of one consumer) in stream order. */
  async replayAll(filter: { consumer?: string } = {}): Promise<DeadLetter[]> {
    const replayed: DeadLetter[] = [];
    for (const letter of await this.list(filter)) replayed.push(await this.replay(letter.seq));
    return replayed;
  }
}

function describe(seq: number, h: MsgHdrs | undefined, data: Uint8Array, at: Date): DeadLetter {
  let eventId: string | undefined;
  let eventType: string | undefined;
  try {
    const envelope = decodeEnvelope(data);
    eventId = envelope.id;
    eventType = envelope.type;
  } catch {
    // Undecodable envelopes are dead-lettered too; the reason says so.
  }
  return {
    seq,
    consumer: h?.get(DEAD_LETTER_HEADERS.consumer) ?? '',
    originalSubject: h?.get(DEAD_LETTER_HEADERS.subject) ?? '',
    reason: h?.get(DEAD_LETTER_HEADERS.reason) ?? '',
    deliveries: Number(h?.get(DEAD_LETTER_HEADERS.deliveries) || 0),
    deadLetteredAt: at,
    eventId,
    eventType,
  };
}

/**
 * Connects to NATS (comma-separated servers) and opens the dead letters of one installation: what `npm run
 * dlq` and the AdminService's dead-letter RPCs both run on. `close` drains the connection.
 */
export async function connectDeadLetters(
  natsUrl: string,
  settings: Pick<StreamSettings, 'stream' | 'subjectPrefix'>,
  name: string,
): Promise<{ deadLetters: DeadLetters; close(): Promise<void> }> {
  const nc = await connect({ servers: natsUrl.split(',').map((s) => s.trim()), name, timeout: 5_000 });
  try {
    return { deadLetters: await DeadLetters.open(nc, settings), close: () => nc.drain().catch(() => undefined) };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
