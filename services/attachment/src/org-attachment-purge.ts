import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { periodicJob, type PeriodicJob } from '@taskmesh/runtime/periodic-job';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { enqueueDeletionsSql, type ObjectDeletions } from './storage/object-deletions.ts';

/**
 * Removes the attachments of organizations deleted longer than the retention ago (org_purges, filled from
 * OrganizationDeleted): each org in its own transaction bound to it, rows deleted and keys queued for the
 * deletion worker. Until then a deleted org's attachments are unreachable (its members are gone) but kept,
 * as the org service keeps the org's own rows.
 */
export class OrgAttachmentPurge {
  private job: PeriodicJob | undefined;

  constructor(
    private readonly em: EntityManager,
    private readonly deletions: ObjectDeletions,
    private readonly settings: { intervalSeconds: number },
    private readonly log: Logger,
  ) {}

  /** Purges what is due as of `now`; returns how many organizations were purged. */
  async purgeDue(now = new Date()): Promise<number> {
    const due = await this.em.fork().execute<{ org_id: string }[]>(
      'select org_id from org_purges where due_at <= ? order by due_at limit 100',
      [now],
    );
    for (const { org_id: orgId } of due) {
      await forkForOrg(this.em, orgId).transactional(async (tx) => {
        await tx.execute(enqueueDeletionsSql('org_id = ?'), [orgId]);
        await tx.execute('delete from org_purges where org_id = ?', [orgId]);
      });
      this.log.info({ organization: `organizations/${orgId}` }, 'purged attachments of deleted organization');
    }
    if (due.length > 0) await this.deletions.drain();
    return due.length;
  }

  start(): void {
    this.job = periodicJob(() => this.purgeDue(), { intervalMs: this.settings.intervalSeconds * 1000, log: this.log, what: 'attachment purge of deleted organizations', runAtStart: false });
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job?.stop();
  }
}
