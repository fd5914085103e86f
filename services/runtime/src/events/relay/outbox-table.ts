import type { EntityManager } from '@mikro-orm/postgresql';

/** An unsent outbox row as the relay reads it. */
export interface OutboxRow {
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

const COLUMNS = 'id, seq, type, organization, actor, resource, occur_time, payload, trace_context';

/**
 * The relay's reads and writes of a service's outbox table. Rows published are remembered and marked sent
 * by the next read, in the same statement (a data-modifying WITH: one round trip per round instead of two),
 * or by markPublished() when nothing is read after them. Until then they are unsent in the table, and a
 * crash or a second relay re-publishes them, which JetStream's duplicate window and the consumers'
 * idempotency absorb.
 */
export class OutboxTable {
  /** Rows published and not yet marked sent. */
  private unmarked: string[] = [];

  constructor(
    private readonly em: EntityManager,
    private readonly batchSize: number,
  ) {}

  /** Remembers rows as published, to be marked sent by the next read or markPublished(). */
  published(ids: readonly string[]): void {
    this.unmarked.push(...ids);
  }

  /**
   * The next batch of unsent rows in seq order, marking the rows published since the last read. The select
   * sees the table as it was before that update, so it leaves those rows out by id.
   */
  async nextBatch(): Promise<OutboxRow[]> {
    if (this.unmarked.length === 0) {
      return this.em.fork().execute<OutboxRow[]>(`select ${COLUMNS} from outbox where published_at is null order by seq limit ?`, [this.batchSize]);
    }
    const marking = this.takeUnmarked();
    const ids = `{${marking.join(',')}}`;
    try {
      return await this.em.fork().execute<OutboxRow[]>(
        `with marked as (update outbox set published_at = now() where published_at is null and id = any(?::uuid[]))
         select ${COLUMNS} from outbox where published_at is null and id <> all(?::uuid[]) order by seq limit ?`,
        [ids, ids, this.batchSize],
      );
    } catch (err) {
      this.unmarked = [...marking, ...this.unmarked];
      throw err;
    }
  }

  /** Marks what was published and not marked yet (end of a flush the caller waits for, a failed round, stop). */
  async markPublished(): Promise<void> {
    const ids = this.takeUnmarked();
    if (ids.length === 0) return;
    try {
      await this.em.fork().execute(`update outbox set published_at = now() where published_at is null and id = any(?::uuid[])`, [`{${ids.join(',')}}`]);
    } catch (err) {
      this.unmarked = [...ids, ...this.unmarked];
      throw err;
    }
  }

  /** Backlog and age of the oldest waiting event (the partial index on unpublished rows keeps it cheap). */
  async backlog(): Promise<{ backlog: number; oldestAgeSeconds: number }> {
    const [row] = await this.em.fork().execute<{ backlog: number; oldest: number }[]>(
      `select count(*)::int as backlog, coalesce(extract(epoch from now() - min(occur_time)), 0)::float8 as oldest
       from outbox where published_at is null`,
    );
    return { backlog: Number(row?.backlog ?? 0), oldestAgeSeconds: Number(row?.oldest ?? 0) };
  }

  private takeUnmarked(): string[] {
    const ids = this.unmarked;
    this.unmarked = [];
    return ids;
  }
}
