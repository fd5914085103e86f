import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { z } from 'zod';
import { env } from './config.ts';
import { DEAD_LETTERS_MAX_AGE_DAYS } from './events/stream.ts';
import { periodicJob, type PeriodicJob } from './periodic-job.ts';
import { jittered } from './jitter.ts';

/** A processed-event id must outlive any redelivery, the dead-letter stream's replays included. */
export const MIN_PROCESSED_EVENTS_RETENTION_DAYS = DEAD_LETTERS_MAX_AGE_DAYS + 1;

/** How often the bookkeeping purges run; shared by every service that has something to purge. */
const intervalShape = {
  /** How often the retention purges of bookkeeping rows (published outbox rows, processed events, …) run. */
  RETENTION_INTERVAL_SECONDS: env.positiveInt(3_600),
};

/** Variables of a service with an outbox. */
export const outboxRetentionConfigShape = {
  ...intervalShape,
  /** Published outbox rows older than this are deleted (unpublished ones never are). */
  OUTBOX_RETENTION_HOURS: env.positiveInt(168),
};

/** Variables of a service with processed_events. */
export const processedEventsRetentionConfigShape = {
  ...intervalShape,
  /** Processed-event ids older than this are forgotten; at least a day longer than the dead-letter stream keeps events. */
  PROCESSED_EVENTS_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(
      MIN_PROCESSED_EVENTS_RETENTION_DAYS,
      `must be at least ${MIN_PROCESSED_EVENTS_RETENTION_DAYS} days: the dead-letter stream keeps events ${DEAD_LETTERS_MAX_AGE_DAYS} days, and a replayed one must still be recognised as processed`,
    )
    .default(35),
};

/** One kind of row a service purges: one bounded statement at a time, until a statement deletes fewer than asked. */
export interface RetentionPurge {
  /** What the rows are, for logs, e.g. 'published outbox rows'. */
  what: string;
  /** Deletes at most `limit` rows that are past retention as of `now`; how many it deleted. */
  deleteBatch(now: Date, limit: number): Promise<number>;
}

/** Which bookkeeping tables the service has (as organization-purge's scope says which tenant tables it has). */
export interface BookkeepingScope {
  /** Published outbox rows older than this many hours go; unset: the service has no outbox. */
  outboxRetentionHours?: number;
  /** processed_events rows older than this many days go; unset: the service has no processed_events. */
  processedEventsRetentionDays?: number;
  /** The service's own finished rows (webhook deliveries, sent mail), purged in the same runs. */
  more?: readonly RetentionPurge[];
}

export interface BookkeepingRetentionOptions {
  intervalSeconds: number;
  log: Logger;
  /** Rows per delete statement. */
  batchSize?: number;
  /** The first run comes this long after start, so that it does not compete with start-up (default 15–45 s). */
  firstRunAfterMs?: number;
}

const DEFAULT_BATCH_SIZE = 5_000;
const DEFAULT_FIRST_RUN_AFTER_MS = 30_000;
const HOUR_MS = 3_600_000;

/** Published outbox rows (the relay only reads unpublished ones). Replicas take disjoint rows (skip locked). */
export function outboxPurge(em: EntityManager, retentionHours: number): RetentionPurge {
  return {
    what: 'published outbox rows',
    deleteBatch: (now, limit) =>
      deleteRows(
        em,
        `delete from outbox where id in (
           select id from outbox where published_at < ? order by published_at limit ? for update skip locked)`,
        [new Date(now.getTime() - retentionHours * HOUR_MS), limit],
      ),
  };
}

/** Processed-event ids that no redelivery can match any more. Replicas take disjoint rows (skip locked). */
export function processedEventsPurge(em: EntityManager, retentionDays: number): RetentionPurge {
  return {
    what: 'processed events',
    deleteBatch: (now, limit) =>
      deleteRows(
        em,
        `delete from processed_events where (consumer, event_id) in (
           select consumer, event_id from processed_events where processed_at < ? order by processed_at limit ? for update skip locked)`,
        [new Date(now.getTime() - retentionDays * 24 * HOUR_MS), limit],
      ),
  };
}

async function deleteRows(em: EntityManager, statement: string, params: unknown[]): Promise<number> {
  const result = await em.fork().execute<{ affectedRows: number }>(statement, params, 'run');
  return result.affectedRows;
}

/**
 * Keeps the bookkeeping tables bounded: every interval (the first run shortly after start) each purge of the
 * scope deletes in batches of `batchSize` until a batch comes back short. Each statement commits on its own, so
 * no transaction stays open long; deleting is idempotent, so replicas may run at the same time. stop() ends
 * the run in progress after its current statement.
 */
export class BookkeepingRetention {
  private job: PeriodicJob | undefined;
  private stopping = false;
  readonly purges: readonly RetentionPurge[];

  constructor(
    em: EntityManager,
    scope: BookkeepingScope,
    private readonly options: BookkeepingRetentionOptions,
  ) {
    this.purges = [
      ...(scope.outboxRetentionHours !== undefined ? [outboxPurge(em, scope.outboxRetentionHours)] : []),
      ...(scope.processedEventsRetentionDays !== undefined ? [processedEventsPurge(em, scope.processedEventsRetentionDays)] : []),
      ...(scope.more ?? []),
    ];
  }

  /** Runs every purge as of `now`; how many rows each deleted, by `what`. */
  async purgeDue(now = new Date()): Promise<Record<string, number>> {
    const batchSize = this.options.batchSize ?? DEFAULT_BATCH_SIZE;
    const deleted: Record<string, number> = {};
    for (const purge of this.purges) {
      let total = 0;
      for (;;) {
        if (this.stopping) break;
        const n = await purge.deleteBatch(now, batchSize);
        total += n;
        if (n < batchSize) break;
      }
      deleted[purge.what] = total;
      if (total > 0) this.options.log.info({ deleted: total }, `purged ${purge.what} past retention`);
    }
    return deleted;
  }

  start(): void {
    if (this.purges.length === 0) return;
    this.job = periodicJob(() => this.purgeDue(), {
      intervalMs: this.options.intervalSeconds * 1000,
      log: this.options.log,
      what: 'bookkeeping retention purge',
      // Services started together (npm start, a rollout) purge at different moments, not all in one second.
      firstRunAfterMs: this.options.firstRunAfterMs ?? jittered(DEFAULT_FIRST_RUN_AFTER_MS, 0.5),
    });
    this.job.start();
  }

  /** Stops the timer; a run in progress ends after its current statement, and this waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.job?.stop();
  }
}

/** Creates and starts the retention job of a service (see BookkeepingRetention). */
export function startBookkeepingRetention(em: EntityManager, scope: BookkeepingScope, options: BookkeepingRetentionOptions): BookkeepingRetention {
  const retention = new BookkeepingRetention(em, scope, options);
  retention.start();
  return retention;
}
