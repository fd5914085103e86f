import type { Logger } from 'pino';
import { everyJittered, type JitteredTimer } from '@taskmesh/runtime/jitter';
import type { ArchiveWritten, ExportJob, ExportOperations } from '../db/export-operations.ts';
import type { ExportOperationRecord } from '../db/entities.ts';
import { EXPORT_LEASE_SECONDS, EXPORT_MAX_ATTEMPTS, isDone } from '../domain/export-rules.ts';

export type ArchiveJob = (job: ExportJob, operation: ExportOperationRecord, signal: AbortSignal) => Promise<ArchiveWritten>;

/** What the owner reads on a failed operation: nothing of the cause (logged instead). */
const FAILED_MESSAGE = 'the export could not be written; start a new one';

/**
 * Runs queued exports off the request path, one at a time per process: at once when one is requested
 * (`nudge`), and every `intervalMs` for those left behind. A job holds a lease on its queue row, renewed while
 * it runs; a process that stops (or dies) mid-export leaves the row, which is taken again once the lease
 * lapses: the export restarts from the beginning, at most EXPORT_MAX_ATTEMPTS times, then is marked FAILED.
 */
export class ExportWorker {
  private timer: JitteredTimer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly stopping = new AbortController();

  constructor(
    private readonly operations: ExportOperations,
    private readonly archive: ArchiveJob,
    private readonly log: Logger,
    private readonly intervalMs = 5_000,
  ) {}

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
    await this.operations.markRunning(job);
    const heartbeat = setInterval(() => {
      this.operations.renew(job).catch((err: unknown) => this.log.warn({ err }, 'export lease not renewed'));
    }, (EXPORT_LEASE_SECONDS * 1000) / 4);
    heartbeat.unref();
    try {
      const archive = await this.archive(job, operation, this.stopping.signal);
      await this.operations.succeed(job, archive);
      this.log.info({ operation: job.operationId, sizeBytes: archive.sizeBytes, records: archive.recordCount }, 'export written');
    } catch (err) {
      // Stopping: the lease lapses and the next process resumes the export.
      if (this.stopping.signal.aborted) return;
      this.log.error({ err, operation: job.operationId, attempt: job.attempt }, 'export attempt failed');
      if (job.attempt >= EXPORT_MAX_ATTEMPTS) await this.operations.fail(job, FAILED_MESSAGE);
      else await this.operations.retryLater(job, 30 * job.attempt);
    } finally {
      clearInterval(heartbeat);
    }
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
