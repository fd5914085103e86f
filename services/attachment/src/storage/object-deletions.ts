import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { everyJittered, type JitteredTimer } from '@taskmesh/runtime/jitter';
import type { ObjectStore } from './object-store.ts';

/** Waits before the n-th retry of an object that could not be deleted (the last value repeats). */
const RETRY_SECONDS = [5, 30, 120, 600, 3_600];
const BATCH = 100;

/**
 * Drains object_deletions: the keys whose rows are gone (deleted attachment, task or org) and whose objects must
 * go too. Rows are written in the transaction that deletes the metadata, so no object is forgotten when the
 * store is down; the store is called here, outside any transaction, and a key leaves the table only once the
 * store said it is gone. Deleting is idempotent, so two replicas draining the same key do no harm.
 */
export class ObjectDeletions {
  private timer: JitteredTimer | undefined;
  private running: Promise<number> | undefined;
  private queued: Promise<number> | undefined;

  constructor(
    private readonly em: EntityManager,
    private readonly store: ObjectStore,
    private readonly log: Logger,
    private readonly intervalMs = 5_000,
  ) {}

  /**
   * Deletes every due object; resolves with how many were deleted. A call during a run waits for one more run
   * after it (which sees the keys queued meanwhile); calls during the same run share that one.
   */
  drain(): Promise<number> {
    if (!this.running) {
      this.running = this.drainAll().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => 0)
      .then(() => {
        this.queued = undefined;
        return this.drain();
      });
    return this.queued;
  }

  private async drainAll(): Promise<number> {
    let deleted = 0;
    for (;;) {
      const due = await this.em.fork().execute<{ object_key: string; attempts: number }[]>(
        'select object_key, attempts from object_deletions where next_attempt_at <= now() order by next_attempt_at limit ?',
        [BATCH],
      );
      for (const row of due) {
        try {
          await this.store.remove(row.object_key);
          await this.em.fork().execute('delete from object_deletions where object_key = ?', [row.object_key]);
          deleted += 1;
        } catch (err) {
          const wait = RETRY_SECONDS[Math.min(row.attempts, RETRY_SECONDS.length - 1)]!;
          this.log.warn({ err, attempts: row.attempts + 1, retryInSeconds: wait }, 'object deletion failed; will retry');
          await this.em.fork().execute(
            `update object_deletions set attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => ?) where object_key = ?`,
            [wait, row.object_key],
          );
        }
      }
      if (due.length < BATCH) return deleted;
    }
  }

  start(): void {
    this.timer = everyJittered(() => {
      this.drain().catch((err: unknown) => this.log.error({ err }, 'object deletions failed'));
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    this.timer?.stop();
    await this.queued?.catch(() => undefined);
    await this.running?.catch(() => undefined);
  }
}

/** SQL, for a transaction bound to the org: moves the keys of the attachments `where` selects to the queue. */
export function enqueueDeletionsSql(where: string): string {
  return `with gone as (delete from attachments where ${where} returning object_key, org_id)
    insert into object_deletions (object_key, org_id) select object_key, org_id from gone on conflict do nothing`;
}
