import type { Context } from '@opentelemetry/api';
import { Event } from '@taskmesh/gen/taskmesh/events/v1/event.js';

/**
 * One domain event as it travels from a service's outbox to the consumers: the fields of
 * taskmesh.events.v1.Event with the payload still encoded (each consumer decodes the types it handles).
 */
export interface EventEnvelope {
  /** UUID; the JetStream Nats-Msg-Id and the consumers' idempotency key. */
  id: string;
  /** Fully qualified payload message name, e.g. taskmesh.task.v1.TaskAssigned. */
  type: string;
  /** organizations/{org}, or '' for events outside any org. */
  organization: string;
  actor: string;
  resource: string;
  occurTime: Date;
  payload: Uint8Array;
}

/** An event as a handler receives it. */
export interface ReceivedEvent extends EventEnvelope {
  /** 1 on the first delivery to this consumer, then counting redeliveries. */
  deliveryCount: number;
  /** The trace context the event was published in (the relay's span), for the handler's own span. */
  traceContext: Context;
}

/** A ts-proto message codec (decode side). */
export interface MessageDecoder<T> {
  decode(input: Uint8Array): T;
}

/** Decodes the payload of an event whose type the handler has already matched. */
export function decodePayload<T>(event: EventEnvelope, decoder: MessageDecoder<T>): T {
  return decoder.decode(event.payload);
}

/** Message headers set on every published event, besides Nats-Msg-Id and the W3C trace headers. */
export const EVENT_TYPE_HEADER = 'Taskmesh-Event-Type';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** The wire form: a taskmesh.events.v1.Event with the payload packed as google.protobuf.Any. */
export function encodeEnvelope(event: EventEnvelope): Uint8Array {
  return Event.encode({
    id: event.id,
    type: event.type,
    organization: event.organization,
    actor: event.actor,
    resource: event.resource,
    occurTime: event.occurTime,
    payload: { typeUrl: TYPE_URL_PREFIX + event.type, value: Buffer.from(event.payload) },
  }).finish();
}

export function decodeEnvelope(bytes: Uint8Array): EventEnvelope {
  const message = Event.decode(bytes);
  if (!message.id || !message.type || !message.payload || !message.occurTime) {
    throw new Error('event envelope lacks id, type, payload or occur_time');
  }
  if (message.payload.typeUrl !== TYPE_URL_PREFIX + message.type) {
    throw new Error(`payload type ${message.payload.typeUrl} does not match event type ${message.type}`);
  }
  return {
    id: message.id,
    type: message.type,
    organization: message.organization,
    actor: message.actor,
    resource: message.resource,
    occurTime: message.occurTime,
    payload: message.payload.value,
  };
}

const TYPE_NAME = /^taskmesh\.([a-z][a-z0-9_]*)\.v\d+\.([A-Z][A-Za-z0-9]*)$/;

/**
 * The subject tokens an event type maps to: the service (its proto package) and a suffix of the first
 * word of the message name and the rest joined by '_' (TaskCreated → task.created, TaskStatusChanged →
 * task.status_changed, UserSignedUp → user.signed_up).
 */
export function subjectParts(type: string): { service: string; suffix: string } {
  const match = TYPE_NAME.exec(type);
  if (!match) throw new Error(`event type ${type} is not taskmesh.<service>.v<n>.<Message>`);
  const words = match[2]!.split(/(?=[A-Z])/).map((w) => w.toLowerCase());
  const [first, ...rest] = words;
  return { service: match[1]!, suffix: rest.length ? `${first}.${rest.join('_')}` : first! };
}

/** organizations/{org} → {org}; '' → '_' (a subject token cannot be empty). */
function orgToken(organization: string): string {
  const id = organization.startsWith('organizations/') ? organization.slice('organizations/'.length) : organization;
  return id && /^[A-Za-z0-9_-]+$/.test(id) ? id : '_';
}

/** `<prefix>.<service>.<org id or _>.<suffix>`, e.g. taskmesh.task.<org>.task.created. */
export function subjectFor(prefix: string, event: Pick<EventEnvelope, 'type' | 'organization'>): string {
  const { service, suffix } = subjectParts(event.type);
  return `${prefix}.${service}.${orgToken(event.organization)}.${suffix}`;
}

/**
 * One filter subject covering the given types. nats-server 2.9 allows a single filter per consumer, so a
 * consumer of several types gets the narrowest wildcard covering them and skips the others client-side.
 */
export function filterSubjectFor(prefix: string, types: readonly string[]): string {
  const parts = types.map(subjectParts);
  if (parts.length === 1) return `${prefix}.${parts[0]!.service}.*.${parts[0]!.suffix}`;
  const services = new Set(parts.map((p) => p.service));
  return services.size === 1 ? `${prefix}.${parts[0]!.service}.>` : `${prefix}.>`;
}
