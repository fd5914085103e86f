import { context, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { withService } from '../current-service.ts';
import { extractTraceContext, injectTraceHeaders } from '../trace-context.ts';
import type { EventEnvelope } from './envelope.ts';
import { DeliveryDeferredError, PartialPublishError, type EventBus, type PublishItem } from './event-bus.ts';
import { observeOutbox, recordPublished } from './metrics.ts';
import { eventsTracer, inSpan } from './tracing.ts';

export interface OutboxRelayOptions {
  /** The service's EntityManager (Database.em); the relay forks it. */
  em: EntityManager;
  /** Service name, for logs and spans. */
  service: string;
  bus: EventBus;
  log: Logger;
  /** How often the outbox is polled when not nudged. Default 1 s. */
  pollIntervalMs?: number;
  /** Rows read per round. Default 100. */
  batchSize?: number;
  /** Nudge on every commit of the ORM (default true), so events go out right after the change. */
  nudgeOnCommit?: boolean;
}

export interface OutboxRelay {
  /** Publish soon, without waiting for the next poll (e.g. right after a commit). */
  nudge(): void;
  /** Publishes everything unsent now; resolves with how many rows went out. */
  flush(): Promise<number>;
  /** Stops polling after the round in progress, then tries one last flush. */
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  seq: string;
  type: string;
  organization: string;
  actor: string;
  resource: string;
  occur_time: Date;
  payload: Buffer;
  trace_context: string | null;
}

/**
 * Publishes a service's outbox rows in seq order and marks them sent.
 *
 * No transaction is held while publishing (a network call inside a transaction holds its connection and
 * locks for as long as the broker takes, and in-process handlers may write to the same database): a round reads a batch, publishes it
 * in order, each publish awaited, then marks the published prefix sent. So a row can go out twice — two
 * relay replicas reading the same batch, or a crash between publish and mark — and consumers never see it
 * twice, because JetStream drops a repeated Nats-Msg-Id (the event id) within the stream's duplicate window
 * and every consumer skips an event id it processed. A round stops publishing when it is older than
 * `maxRoundMs`, well inside that window. Order: a later event of one aggregate was committed after the
 * earlier one (row locks on the aggregate), so any relay that reads it also reads the earlier one, unsent
 * and ahead of it or already sent; each event reaches the stream first in outbox order.
 *
 * When the bus rejects (NATS down, an in-process handler failing) the rest of the batch waits in the outbox
 * and the round is retried with backoff; nothing is lost.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { bus, service } = options;
  const log = options.log.child({ component: 'outbox-relay' });
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  const batchSize = options.batchSize ?? 100;
  const maxRoundMs = 60_000;
  let stopped = false;
  let wake: (() => void) | undefined;
  let nudged = false;
  let failures = 0;
  // Backlog and age of the oldest waiting event, read at each metrics scrape (the partial index on unpublished
  // rows keeps it cheap).
  const stopObserving = observeOutbox(service, async () => {
    const [row] = await options.em.fork().execute<{ backlog: number; oldest: number }[]>(
      `select count(*)::int as backlog, coalesce(extract(epoch from now() - min(occur_time)), 0)::float8 as oldest
       from outbox where published_at is null`,
    );
    return { backlog: Number(row?.backlog ?? 0), oldestAgeSeconds: Number(row?.oldest ?? 0) };
  });

  const nudge = () => {
    nudged = true;
    wake?.();
  };

  if (options.nudgeOnCommit ?? true) {
    options.em.getEventManager().registerSubscriber({
      afterFlush: () => nudge(),
      afterTransactionCommit: () => nudge(),
    });
  }

  /** Rows published and not yet marked sent: the next read marks them in the same statement. */
  let unmarked: string[] = [];

  /**
   * The next batch of unsent rows; marks the rows published since the last read sent in the same statement
   * (a data-modifying WITH: one round trip per round instead of two). The select sees the table as it was
   * before that update, so it leaves those rows out by id.
   */
  async function readBatch(): Promise<OutboxRow[]> {
    const columns = 'id, seq, type, organization, actor, resource, occur_time, payload, trace_context';
    if (unmarked.length === 0) {
      return options.em
        .fork()
        .execute<OutboxRow[]>(`select ${columns} from outbox where published_at is null order by seq limit ?`, [batchSize]);
    }
    const marking = unmarked;
    unmarked = [];
    const ids = `{${marking.join(',')}}`;
    try {
      return await options.em.fork().execute<OutboxRow[]>(
        `with marked as (update outbox set published_at = now() where published_at is null and id = any(?::uuid[]))
         select ${columns} from outbox where published_at is null and id <> all(?::uuid[]) order by seq limit ?`,
        [ids, ids, batchSize],
      );
    } catch (err) {
      unmarked = [...marking, ...unmarked];
      throw err;
    }
  }

  async function markSent(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await options.em
      .fork()
      .execute(`update outbox set published_at = now() where published_at is null and id = any(?::uuid[])`, [`{${ids.join(',')}}`]);
  }

  /** Marks what was published and not marked yet (end of a flush the caller waits for, stop). */
  async function markUnmarked(): Promise<void> {
    const ids = unmarked;
    unmarked = [];
    try {
      await markSent(ids);
    } catch (err) {
      unmarked = [...ids, ...unmarked];
      throw err;
    }
  }

  /**
   * One round: returns the rows sent, or throws the bus's error after marking the sent prefix. The rows it
   * sent are marked by the next round's read (or by flush()/stop()), so a round costs one statement; until
   * then they are unsent in the table, and a crash or a second relay re-publishes them, which JetStream's
   * duplicate window and the consumers' idempotency absorb as for a crash between publish and mark.
   */
  async function round(): Promise<number> {
    const rows = await readBatch();
    if (rows.length === 0) return 0;
    const sent: string[] = [];
    let failed = true;
    try {
      if (bus.publishBatch) await publishTogether(bus.publishBatch.bind(bus), rows, sent);
      else await publishOneByOne(rows, sent);
      failed = false;
    } finally {
      unmarked.push(...sent);
      // After a failure the loop backs off: mark the published prefix now rather than at the next round.
      if (failed) await markUnmarked();
    }
    return sent.length;
  }

  const spanAttributes = (row: OutboxRow) => ({
    'messaging.system': 'nats',
    'messaging.operation.type': 'send',
    'messaging.message.id': row.id,
    'taskmesh.service': service,
  });

  /** Each publish awaited before the next (JetStream: a failed one never has a later one stored ahead of it). */
  async function publishOneByOne(rows: OutboxRow[], sent: string[]): Promise<void> {
    const startedAt = Date.now();
    for (const row of rows) {
      if (Date.now() - startedAt > maxRoundMs) break;
      const event = envelopeOf(row);
      await inSpan(
        `${row.type} publish`,
        SpanKind.PRODUCER,
        spanAttributes(row),
        // Continue the trace of the request that wrote the event (edge → service → DB → NATS → consumer).
        parentOf(row, service),
        () => bus.publish(event, injectTraceHeaders({})),
      );
      sent.push(row.id);
      recordPublished(service, event.occurTime);
    }
  }

  /** The bus takes the batch in one call (in-process: batch handlers); still one PRODUCER span per event. */
  async function publishTogether(publishBatch: NonNullable<EventBus['publishBatch']>, rows: OutboxRow[], sent: string[]): Promise<void> {
    const spans: Span[] = [];
    const items: PublishItem[] = rows.map((row) => {
      const parent = parentOf(row, service);
      const span = eventsTracer.startSpan(`${row.type} publish`, { kind: SpanKind.PRODUCER, attributes: spanAttributes(row) }, parent);
      spans.push(span);
      return { event: envelopeOf(row), traceHeaders: injectTraceHeaders({}, trace.setSpan(parent, span)) };
    });
    let published = items.length;
    let failure: unknown;
    try {
      await publishBatch(items);
    } catch (err) {
      published = err instanceof PartialPublishError ? err.published : 0;
      failure = err instanceof PartialPublishError ? err.cause : err;
    }
    spans.forEach((span, i) => {
      if (i >= published) {
        span.recordException(failure instanceof Error ? failure : String(failure));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    for (const { event } of items.slice(0, published)) {
      sent.push(event.id);
      recordPublished(service, event.occurTime);
    }
    if (published < items.length) throw failure;
  }

  async function flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await round();
      total += count;
      if (count < batchSize) return total;
    }
  }

  let running: Promise<void> = Promise.resolve();
  const loop = (async () => {
    while (!stopped) {
      let delay = pollIntervalMs;
      try {
        nudged = false;
        running = flush().then(() => undefined);
        await running;
        failures = 0;
      } catch (err) {
        failures++;
        delay =
          err instanceof DeliveryDeferredError ? err.retryInMs : Math.min(pollIntervalMs * 2 ** Math.min(failures, 5), 30_000);
        const level = err instanceof DeliveryDeferredError || failures > 1 ? 'debug' : 'warn';
        log[level]({ err, failures, retryInMs: delay }, 'outbox relay round failed; events stay in the outbox');
      }
      if (stopped) break;
      if (nudged && failures === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  })();

  return {
    nudge,
    flush: async () => {
      await running.catch(() => undefined);
      const count = await flush();
      await markUnmarked();
      return count;
    },
    async stop() {
      stopped = true;
      stopObserving();
      wake?.();
      await loop;
      try {
        await flush();
        await markUnmarked();
      } catch (err) {
        log.info({ err }, 'unsent events stay in the outbox for the next start');
      }
    },
  };
}

function envelopeOf(row: OutboxRow): EventEnvelope {
  return {
    id: row.id,
    type: row.type,
    organization: row.organization,
    actor: row.actor,
    resource: row.resource,
    occurTime: new Date(row.occur_time),
    payload: new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength),
  };
}

/** The context of the request that wrote the row (a new trace without one), as work of `service`. */
function parentOf(row: OutboxRow, service: string) {
  let parent = context.active();
  if (row.trace_context) {
    try {
      parent = extractTraceContext(JSON.parse(row.trace_context) as Record<string, string>);
    } catch {
      // Unreadable trace context: the publish starts a trace of its own.
    }
  }
  return withService(parent, service);
}
