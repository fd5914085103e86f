import { nanos } from '@nats-io/nats-core';
import {
  DiscardPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { Logger } from 'pino';

/**
 * Names and limits of the event streams. The defaults are production's: stream TASKMESH on `taskmesh.>`;
 * tests pass their own names so parallel runs on one server never share subjects.
 */
export interface StreamSettings {
  /** Stream of every domain event. Default TASKMESH. */
  stream: string;
  /** First subject token; the stream takes `<prefix>.>`. Default taskmesh. */
  subjectPrefix: string;
  /** Replicas per stream (3 on a NATS cluster). Default 1. */
  replicas: number;
  /**
   * Size cap of the event stream in bytes (the dead-letter stream gets a quarter). JetStream reserves it
   * on the server's disk when the stream is created, so it must fit the volume. Default 1 GiB.
   */
  maxBytes: number;
}

export const DEFAULT_STREAM_SETTINGS: StreamSettings = {
  stream: 'TASKMESH',
  subjectPrefix: 'taskmesh',
  replicas: 1,
  maxBytes: 1024 ** 3,
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long the event stream keeps an event, and the dead-letter stream a dead letter (days). */
export const EVENTS_MAX_AGE_DAYS = 7;
export const DEAD_LETTERS_MAX_AGE_DAYS = 30;

/**
 * Retention, chosen: events are a carrier, not the record (each service's tables and the audit log are),
 * so the stream keeps 7 days — enough for a consumer that was down over a long weekend to catch up — capped
 * at EVENTS_STREAM_MAX_BYTES (1 GiB by default, some two million events of ~500 bytes) and 10 million
 * messages, dropping the oldest first. The duplicate window (Nats-Msg-Id = event
 * id) is 10 minutes: far longer than a relay takes from reading an outbox batch to publishing it, so a row
 * published twice (two relays, or a crash before marking it sent) is stored once. Dead letters are kept 30
 * days for someone to look at and replay.
 */
export function eventStreamConfig(settings: StreamSettings): Partial<StreamConfig> & { name: string } {
  return {
    name: settings.stream,
    description: 'Taskmesh domain events, published from each service outbox',
    subjects: [`${settings.subjectPrefix}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(EVENTS_MAX_AGE_DAYS * DAY_MS),
    max_bytes: settings.maxBytes,
    max_msgs: 10_000_000,
    max_msg_size: 1024 * 1024,
    duplicate_window: nanos(10 * 60 * 1000),
    num_replicas: settings.replicas,
  };
}

/** Subjects `<prefix>_dlq.<consumer>.<original subject without prefix>`: disjoint from the event stream's. */
export function deadLetterPrefix(settings: StreamSettings): string {
  return `${settings.subjectPrefix}_dlq`;
}

export function deadLetterStreamConfig(settings: StreamSettings): Partial<StreamConfig> & { name: string } {
  return {
    name: `${settings.stream}_DLQ`,
    description: 'Taskmesh events that a consumer could not handle within its deliveries',
    subjects: [`${deadLetterPrefix(settings)}.>`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(DEAD_LETTERS_MAX_AGE_DAYS * DAY_MS),
    max_bytes: Math.max(Math.floor(settings.maxBytes / 4), 1024 * 1024),
    duplicate_window: nanos(10 * 60 * 1000),
    num_replicas: settings.replicas,
  };
}

const STREAM_NOT_FOUND = 10059;
const STREAM_NAME_IN_USE = 10058;

/** Creates the stream, or brings an existing one to this configuration; safe to run from every replica. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }, log: Logger) {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === STREAM_NOT_FOUND)) throw err;
    try {
      await jsm.streams.add(config);
      log.info({ stream: config.name }, 'stream created');
      return;
    } catch (addErr) {
      // Another replica created it in between: fall through to update.
      if (!(addErr instanceof JetStreamApiError && addErr.code === STREAM_NAME_IN_USE)) throw addErr;
    }
  }
  const { name, ...update } = config;
  await jsm.streams.update(name, update);
}

export async function ensureEventStreams(jsm: JetStreamManager, settings: StreamSettings, log: Logger): Promise<void> {
  await ensureStream(jsm, eventStreamConfig(settings), log);
  await ensureStream(jsm, deadLetterStreamConfig(settings), log);
}
