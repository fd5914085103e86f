import type { Logger } from 'pino';
import type { AuditLog } from './audit-log.ts';

/**
 * Keeps the audit log to AUDIT_RETENTION_DAYS: every AUDIT_PURGE_INTERVAL_SECONDS (and once at start) it
 * deletes events that occurred longer ago. Replicas may purge at the same time; deleting is idempotent.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

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
    const run = () => {
      this.running ??= this.purgeDue()
        .catch((err: unknown) => {
          this.log.error({ err }, 'audit retention purge failed');
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    };
    run();
    this.timer = setInterval(run, this.settings.intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
