import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { periodicJob, type PeriodicJob } from '@taskmesh/runtime/periodic-job';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { organizationPurged } from '../events/org-events.ts';
import { orgName } from '../mapping.ts';
import { OrganizationRecord } from './entities.ts';

/**
 * Deletes organizations that were soft-deleted longer than the retention ago, with their memberships and
 * invitations (foreign keys cascade). Finding them is the one read across orgs the purge needs: the RLS
 * policy on organizations shows soft-deleted rows (only those, read-only) when app.purge is 'on'. Each
 * deletion then runs bound to its org, like any tenant write.
 */
export class OrganizationPurge {
  private job: PeriodicJob | undefined;

  constructor(
    private readonly em: EntityManager,
    private readonly settings: { retentionDays: number; intervalSeconds: number },
    private readonly log: Logger,
  ) {}

  /** Purges what is due as of `now`; returns how many organizations were purged. */
  async purgeDue(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.settings.retentionDays * 86_400_000);
    const scope = this.em.fork({ clear: true });
    scope.setSessionContext({ variables: { 'app.purge': 'on' } });
    const due = await scope.find(
      OrganizationRecord,
      { deletedAt: { $ne: null, $lte: cutoff } },
      { fields: ['id'], limit: 100, filters: { tenant: false } },
    );
    for (const { id } of due) {
      // The org's rows (memberships, invitations and API tokens cascade) and its older events go; its
      // OrganizationPurged tells every other service to remove theirs.
      await forkForOrg(this.em, id).transactional(async (tx) => {
        const purged = await tx.nativeDelete(OrganizationRecord, { id, deletedAt: { $ne: null, $lte: cutoff } });
        if (purged === 0) return;
        await tx.execute('delete from outbox where organization = ?', [orgName(id)]);
        recordEvent(tx, organizationPurged(id));
        await tx.flush();
      });
      this.log.info({ organization: `organizations/${id}` }, 'purged deleted organization');
    }
    return due.length;
  }

  start(): void {
    this.job = periodicJob(() => this.purgeDue(), { intervalMs: this.settings.intervalSeconds * 1000, log: this.log, what: 'organization purge', runAtStart: false });
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job?.stop();
  }
}
