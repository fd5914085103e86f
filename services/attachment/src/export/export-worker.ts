import type { Logger } from 'pino';
import { everyJittered, type JitteredTimer } from '@taskmesh/runtime/jitter';
import type { ArchiveWritten, ExportJob, ExportOperations } from '../db/export-operations.ts';
import type { ExportOperationRecord } from '../db/entities.ts';
import { EXPORT_LEASE_SECONDS, EXPORT_MAX_ATTEMPTS, isDone } from '../domain/export-rules.ts';

/** Where a running export stands when it checks for cancellation: between pages of records, before an object, before and after its upload. */
export type ExportStage = 'records' | 'object' | 'upload' | 'uploaded';

/** Called by the archive at each page and object boundary; throws (aborted) once the export was cancelled or the worker stops. */
export type Checkpoint = (stage: ExportStage) => Promise<void>;

export type ArchiveJob = (job: ExportJob, operation: ExportOperationRecord, signal: AbortSignal, checkpoint: Checkpoint) => Promise<ArchiveWritten>;

export interface ExportWorkerOptions {
  /** Removes the objects queued in object_deletions now (the archive of a cancelled export). */
  drainDeletions: () => Promise<unknown>;
  /**
   * Awaited at every checkpoint before the cancellation check, with the operation's id and the stage (tests hold
   * an export there to cancel it mid-way; absent in production).
   */
  onCheckpoint?: (operationId: string, stage: ExportStage) => Promise<void> | void;
  intervalMs?: number;
}

/** What the owner reads on a failed operation: nothing of the cause (logged instead). */
const FAILED_MESSAGE = 'the export could not be written; start a new one';

/**
 * Runs queued exports off the request path, one at a time per process: at once when one is requested
 * (`nudge`), and every `intervalMs` for those left behind. A job holds a lease on its queue row, renewed while
 * it runs; a process that stops (or dies) mid-export leaves the row, which is taken again once the lease
 * lapses: the export restarts from the beginning, at most EXPORT_MAX_ATTEMPTS times, then is marked FAILED.
 *
 * CancelOperation takes the job out of the queue (in any replica): the archive asks at each page and object
 * boundary whether its job is still queued (one primary-key read) and stops when it is not; in this process
 * `cancelled()` also aborts the stream or upload in flight at once. A stopped job's temporary file is removed
 * and anything it uploaded is deleted from the bucket.
 */
export class ExportWorker {
  private timer: JitteredTimer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly stopping = new AbortController();
  /** The job this process runs, by operation id, with what cancels it. */
  private readonly current = new Map<string, AbortController>();
  private readonly intervalMs: number;

  constructor(
    private readonly operations: ExportOperations,
    private readonly archive: ArchiveJob,
    private readonly log: Logger,
    private readonly options: ExportWorkerOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 5_000;
  }

  /** Runs every due export; a call during a run makes that run look again once it is done. */
  nudge(): Promise<void> {
    if (this.stopping.signal.aborted) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.drain()
      .catch((err: unknown) => this.log.error({ err }, 'export worker failed'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** The operation was cancelled (committed): if this process runs it, its stream or upload in flight stops now. */
  cancelled(operationId: string): void {
    this.current.get(operationId)?.abort();
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      for (let job = await this.operations.claim(); job && !this.stopping.signal.aborted; job = await this.operations.claim()) {
        await this.run(job);
      }
    } while (this.again && !this.stopping.signal.aborted);
  }

  private async run(job: ExportJob): Promise<void> {
    const operation = await this.operations.find(job);
    if (!operation || isDone(operation.state)) {
      await this.operations.fail(job, FAILED_MESSAGE);
      return;
    }
    if (job.attempt > EXPORT_MAX_ATTEMPTS) {
      this.log.warn({ operation: job.operationId, attempts: job.attempt - 1 }, 'export given up');
      await this.operations.fail(job, FAILED_MESSAGE);
      return;
    }
    if (!(await this.operations.markRunning(job))) return;
    const cancel = new AbortController();
    this.current.set(job.operationId, cancel);
    const signal = AbortSignal.any([this.stopping.signal, cancel.signal]);
    const heartbeat = setInterval(() => {
      this.operations
        .renew(job)
        .then((queued) => queued || cancel.abort())
        .catch((err: unknown) => this.log.warn({ err }, 'export lease not renewed'));
    }, (EXPORT_LEASE_SECONDS * 1000) / 4);
    heartbeat.unref();
    const checkpoint: Checkpoint = async (stage) => {
      signal.throwIfAborted();
      await this.options.onCheckpoint?.(job.operationId, stage);
      if (!(await this.operations.stillQueued(job))) cancel.abort();
      signal.throwIfAborted();
    };
    try {
      const archive = await this.archive(job, operation, signal, checkpoint);
      if (await this.operations.succeed(job, archive)) {
        this.log.info({ operation: job.operationId, sizeBytes: archive.sizeBytes, records: archive.recordCount }, 'export written');
      } else {
        await this.dropCancelled(job);
      }
    } catch (err) {
      // Stopping: the lease lapses and the next process resumes the export.
      if (this.stopping.signal.aborted) return;
      if (cancel.signal.aborted) {
        await this.dropCancelled(job);
        return;
      }
      this.log.error({ err, operation: job.operationId, attempt: job.attempt }, 'export attempt failed');
      if (job.attempt >= EXPORT_MAX_ATTEMPTS) await this.operations.fail(job, FAILED_MESSAGE);
      else await this.operations.retryLater(job, 30 * job.attempt);
    } finally {
      clearInterval(heartbeat);
      this.current.delete(job.operationId);
    }
  }

  /** The job was cancelled: nothing more is written, so what it may have uploaded is deleted now (retried by ObjectDeletions). */
  private async dropCancelled(job: ExportJob): Promise<void> {
    await this.operations.dropArchive(job);
    await this.options.drainDeletions().catch((err: unknown) => this.log.warn({ err }, 'archive of a cancelled export not deleted yet; will retry'));
    this.log.info({ operation: job.operationId }, 'export cancelled');
  }

  start(): void {
    void this.nudge();
    this.timer = everyJittered(() => void this.nudge(), this.intervalMs);
  }

  /** Stops taking exports and cancels the one running (it is resumed by the next process). */
  async stop(): Promise<void> {
    this.timer?.stop();
    this.stopping.abort();
    await this.running;
  }
}
