import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Migration } from '@mikro-orm/migrations';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
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
 * Second outbox migration, for every service that has an outbox: the trace context of the request that wrote
 * the event, so the relay's publish span (and the consumers' spans after it) continue that request's trace.
 */
export class OutboxTraceContextMigration extends Migration {
  override name = '0002-outbox-trace-context';

  override up(): void {
    this.addSql('alter table outbox add column if not exists trace_context text null');
  }
}

export const outboxTraceContextMigration = { name: '0002-outbox-trace-context', class: OutboxTraceContextMigration };

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

/** The row recordEvent (or outboxInsertSql) writes for an event: a new id, now, the current trace context. */
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
 * One INSERT of outbox rows as SQL text with every value a literal, for writers that send their transaction
 * as plain SQL (simple protocol) instead of through the unit of work. The caller runs it in the transaction
 * of the change it describes, and nudges the relay after the commit (the ORM's commit hook that nudges it
 * does not see plain SQL). Strings go through node-postgres's escapeLiteral, the payload as hex.
 *
 * With `onlyIfRowsIn` (the name of a CTE or table in the same statement), the rows are written only when that
 * relation has a row: `with t as (insert … on conflict do nothing returning 1) <this>` writes the events
 * exactly when the change was made, and the statement's row count tells which.
 */
export function outboxInsertSql(rows: readonly OutboxRowValues[], options: { onlyIfRowsIn?: string } = {}): string {
  if (rows.length === 0) throw new Error('outboxInsertSql: no rows');
  const values = rows
    .map(
      (r) =>
        `(${sqlText(r.id)}::uuid, ${sqlText(r.type)}::text, ${sqlText(r.organization)}::text, ${sqlText(r.actor)}::text, ` +
        `${sqlText(r.resource)}::text, ${sqlText(r.occurTime.toISOString())}::timestamptz, ` +
        `decode('${Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength).toString('hex')}', 'hex'), ` +
        `null::timestamptz, ${r.traceContext === null ? 'null' : sqlText(r.traceContext)}::text)`,
    )
    .join(', ');
  if (!options.onlyIfRowsIn) return `insert into outbox (${OUTBOX_COLUMNS}) values ${values}`;
  const guard = pg.escapeIdentifier(options.onlyIfRowsIn);
  return `insert into outbox (${OUTBOX_COLUMNS}) select v.* from (values ${values}) as v (${OUTBOX_COLUMNS}) where exists (select 1 from ${guard})`;
}

/** A text literal; NUL cannot be in a PostgreSQL text value (nor in a simple-protocol query). */
function sqlText(value: string): string {
  if (value.includes('\0')) throw new Error('a text value cannot contain NUL');
  return pg.escapeLiteral(value);
}

function traceContextNow(): string | null {
  const headers = injectTraceHeaders({});
  return headers.traceparent ? JSON.stringify(headers) : null;
}
