import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { sql, type SqlFragment } from './tenant-sql.ts';
import { injectTraceHeaders } from './trace-context.ts';
import type { EventEnvelope } from './events/envelope.ts';
import { actorOfEvent } from './api-token-auth.ts';

/**
 * The transactional outbox. A use case records its domain event with recordEvent() on the same
 * EntityManager, inside the same transaction (or flush), as the change it describes: both commit or
 * neither does. A relay (events issue) publishes unsent rows in seq order and marks them sent.
 */
export const OutboxEvent = defineEntity({
  name: 'OutboxEvent',
  tableName: 'outbox',
  properties: {
    id: p.uuid().primary(),
    /** Commit order; the relay publishes in this order, so events of one aggregate keep theirs. */
    seq: p.bigint('string').autoincrement().nullable(),
    /** Fully qualified payload message name, e.g. taskmesh.identity.v1.UserSignedUp. */
    type: p.text(),
    organization: p.text().default(''),
    actor: p.text().default(''),
    resource: p.text(),
    occurTime: p.datetime(),
    payload: p.blob(),
    publishedAt: p.datetime().nullable(),
    /** W3C trace context (JSON of traceparent/tracestate) of the request that made the change. */
    traceContext: p.text().nullable(),
  },
});
export type OutboxEvent = InferEntity<typeof OutboxEvent>;

/** DDL for the outbox table, used by each service's first migration. */
export const OUTBOX_TABLE_SQL = `
create table outbox (
  id uuid primary key,
  seq bigint generated always as identity,
  type text not null,
  organization text not null default '',
  actor text not null default '',
  resource text not null,
  occur_time timestamptz not null,
  payload bytea not null,
  published_at timestamptz null
);
create index outbox_unpublished_idx on outbox (seq) where published_at is null;
`;

/**
 * DDL of every outbox's second migration (`0002-outbox-trace-context` in each producing service): the trace
 * context of the request that wrote the event, so the relay's publish span (and the consumers' spans after
 * it) continue that request's trace.
 */
export const OUTBOX_TRACE_CONTEXT_SQL = 'alter table outbox add column if not exists trace_context text null';

/**
 * DDL of every producing service's outbox-retention migration: the retention purge finds published rows past
 * retention by their publish time (services/runtime/src/bookkeeping-retention.ts).
 */
export const OUTBOX_PUBLISHED_INDEX_SQL = 'create index if not exists outbox_published_at_idx on outbox (published_at) where published_at is not null';

export interface DomainEvent {
  /** Fully qualified name of the payload message. */
  type: string;
  payload: Uint8Array;
  resource: string;
  organization?: string;
  actor?: string;
}

/** A ts-proto message codec. */
export interface MessageCodec<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** Encodes a payload from a service's events.proto; typeName is its fully qualified proto name. */
export function domainEvent<T>(
  typeName: string,
  codec: MessageCodec<T>,
  payload: T,
  where: { resource: string; organization?: string; actor?: string },
): DomainEvent {
  return { type: typeName, payload: codec.encode(payload).finish(), ...where };
}

/** An outbox row as written: the event plus its id, time and the writing request's trace context. */
export interface OutboxRowValues extends EventEnvelope {
  traceContext: string | null;
}

/** The row recordEvent (or outboxInsert) writes for an event: a new id, now, the current trace context. */
export function outboxRowOf(event: DomainEvent): OutboxRowValues {
  return {
    id: randomUUID(),
    type: event.type,
    organization: event.organization ?? '',
    actor: actorOfEvent(event.actor ?? ''),
    resource: event.resource,
    occurTime: new Date(),
    payload: event.payload,
    traceContext: traceContextNow(),
  };
}

/** Adds the event to the unit of work; it is written by the same flush/transaction as the change. */
export function recordEvent(em: EntityManager, event: DomainEvent): void {
  const row = outboxRowOf(event);
  em.create(OutboxEvent, { ...row, payload: Buffer.from(row.payload), publishedAt: null });
}

const OUTBOX_COLUMNS = 'id, type, organization, actor, resource, occur_time, payload, published_at, trace_context';

/**
 * One INSERT of outbox rows for the tenant SQL door (tenant-sql.ts), run in the transaction of the change it
 * describes; the door's commit fires the hook that nudges the relay. Every value is a parameter.
 *
 * With `onlyIfRowsIn` (the name of a CTE of the same statement, trusted text), the rows are written only when
 * that relation has a row: `with t as (insert … on conflict do nothing returning 1) <this>` writes the events
 * exactly when the change was made, and the statement's row count tells which.
 */
export function outboxInsert(rows: readonly OutboxRowValues[], options: { onlyIfRowsIn?: string } = {}): SqlFragment {
  if (rows.length === 0) throw new Error('outboxInsert: no rows');
  const values = sql.join(
    rows.map(
      (r) =>
        sql`(${r.id}::uuid, ${r.type}::text, ${r.organization}::text, ${r.actor}::text, ${r.resource}::text, ${r.occurTime}::timestamptz, ${Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength)}::bytea, null::timestamptz, ${r.traceContext}::text)`,
    ),
  );
  if (!options.onlyIfRowsIn) return sql`insert into outbox (${sql.raw(OUTBOX_COLUMNS)}) values ${values}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(options.onlyIfRowsIn)) throw new Error('outboxInsert: not a plain relation name');
  return sql`insert into outbox (${sql.raw(OUTBOX_COLUMNS)}) select v.* from (values ${values}) as v (${sql.raw(OUTBOX_COLUMNS)}) where exists (select 1 from ${sql.raw(options.onlyIfRowsIn)})`;
}

function traceContextNow(): string | null {
  const headers = injectTraceHeaders({});
  return headers.traceparent ? JSON.stringify(headers) : null;
}
