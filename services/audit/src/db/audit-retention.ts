import type { Logger } from 'pino';
import { periodicJob, type PeriodicJob } from '@taskmesh/runtime/periodic-job';
import type { AuditLog } from './audit-log.ts';

/**
 * Keeps the audit log to AUDIT_RETENTION_DAYS: every AUDIT_PURGE_INTERVAL_SECONDS (and once at start) it
 * deletes events that occurred longer ago. Replicas may purge at the same time; deleting is idempotent.
 */
export class AuditRetention {
  private job: PeriodicJob | undefined;

  constructor(
    private readonly auditLog: AuditLog,
    private readonly settings: { retentionDays: number; intervalSeconds: number },
    private readonly log: Logger,
  ) {}

  /** Purges what is past retention as of `now`; returns how many events were deleted. */
  async purgeDue(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.settings.retentionDays * 86_400_000);
    const deleted = await this.auditLog.purgeOlderThan(cutoff);
    if (deleted > 0) this.log.info({ deleted, cutoff }, 'purged audit events past retention');
    return deleted;
  }

  start(): void {
    this.job = periodicJob(() => this.purgeDue(), { intervalMs: this.settings.intervalSeconds * 1000, log: this.log, what: 'audit retention purge' });
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job?.stop();
  }
}
