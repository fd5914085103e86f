import type { Logger } from 'pino';
import { z } from 'zod';
import { env } from '../config.ts';
import type { EventBus } from './event-bus.ts';
import { createInProcessBus } from './in-process-bus.ts';
import { createJetStreamBus } from './jetstream-bus.ts';

/** The environment variables of the event bus, to spread into a service's config schema. */
export const eventBusConfigShape = {
  /** JetStream when set (nats://host:4222, comma-separated for a cluster); in-process when unset. */
  NATS_URL: z.string().startsWith('nats').optional(),
  /** Stream name; change only to run beside another installation on one NATS. */
  EVENTS_STREAM: z.string().regex(/^[A-Za-z0-9_-]+$/).default('TASKMESH'),
  EVENTS_SUBJECT_PREFIX: z.string().regex(/^[a-z0-9_-]+$/).default('taskmesh'),
  /** Replicas of the event streams (3 on a NATS cluster). */
  EVENTS_STREAM_REPLICAS: env.positiveInt(1),
  /** Size cap of the event stream (JetStream reserves it on disk); the dead-letter stream gets a quarter. */
  EVENTS_STREAM_MAX_BYTES: env.positiveInt(1024 ** 3),
};

export interface EventBusConfig {
  NATS_URL?: string | undefined;
  EVENTS_STREAM?: string;
  EVENTS_SUBJECT_PREFIX?: string;
  EVENTS_STREAM_REPLICAS?: number;
  EVENTS_STREAM_MAX_BYTES?: number;
}

/** JetStream when NATS_URL is set, the in-process bus otherwise (the embedded default). */
export function createEventBus(config: EventBusConfig, log: Logger, name?: string): EventBus {
  if (!config.NATS_URL) return createInProcessBus({ log });
  return createJetStreamBus({
    natsUrl: config.NATS_URL,
    log,
    ...(name === undefined ? {} : { name }),
    ...(config.EVENTS_STREAM === undefined ? {} : { stream: config.EVENTS_STREAM }),
    ...(config.EVENTS_SUBJECT_PREFIX === undefined ? {} : { subjectPrefix: config.EVENTS_SUBJECT_PREFIX }),
    ...(config.EVENTS_STREAM_REPLICAS === undefined ? {} : { replicas: config.EVENTS_STREAM_REPLICAS }),
    ...(config.EVENTS_STREAM_MAX_BYTES === undefined ? {} : { maxBytes: config.EVENTS_STREAM_MAX_BYTES }),
  });
}

/**
 * For a service started on its own: without NATS_URL its events go to an in-process bus that no other
 * service shares, so they never reach audit, notify or the other services. That is only right for trying a
 * service alone; say so loudly at start.
 */
export function warnWhenEventsStayInProcess(config: EventBusConfig, log: Logger, service: string): void {
  if (config.NATS_URL) return;
  log.warn(
    { service },
    'NATS_URL is not set: events stay inside this process and reach no other service; set NATS_URL when running services separately',
  );
}
