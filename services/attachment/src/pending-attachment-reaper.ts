import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { periodicJob, type PeriodicJob } from '@taskmesh/runtime/periodic-job';
import { sql, withAppConnection } from '@taskmesh/runtime/tenant-sql';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { REAP_BEFORE_SETTING } from './db/reap-scope.ts';
import { enqueueDeletionsSql, type ObjectDeletions } from './storage/object-deletions.ts';

/** Orgs listed per scan, and rows deleted per transaction. */
const ORG_BATCH = 100;
const ROW_BATCH = 500;

/** One org's stale pending rows, locked; rows a concurrent :complete (or another replica) holds are skipped. */
const STALE_PENDING = `org_id = ? and id in (
  select id from attachments where org_id = ? and state = 'PENDING' and created_at < ?
  order by created_at limit ? for update skip locked)`;

/**
 * Removes attachments left PENDING longer than ATTACHMENT_PENDING_TTL_HOURS (never completed), with their
 * objects whether or not bytes arrived. The TTL exceeds the upload URL's validity, so no upload can follow.
 * Orgs are found through a read-only RLS scope; each org's rows go in a transaction bound to it, the rows
 * deleted and their keys queued in object_deletions together; the store is called after the commit by the
 * deletion worker. A :complete holding a row's lock is skipped (it wins); one that comes after the commit
 * finds no row (NOT_FOUND). Replicas may run at once: locked rows are skipped, not waited for.
 */
export class PendingAttachmentReaper {
  private job: PeriodicJob | undefined;

  constructor(
    private readonly em: EntityManager,
    private readonly deletions: ObjectDeletions,
    private readonly settings: { ttlHours: number; intervalSeconds: number },
    private readonly log: Logger,
  ) {}

  /** Reaps what is past the TTL as of `now`, then deletes the objects; returns how many attachments were reaped. */
  async reapDue(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.settings.ttlHours * 3_600_000);
    let reaped = 0;
    for (;;) {
      const orgs = await this.orgsWithStalePending(cutoff);
      let pass = 0;
      for (const orgId of orgs) pass += await this.reapOrg(orgId, cutoff);
      reaped += pass;
      // A full page of orgs may hide more; stop when nothing moved (rows held by others are theirs).
      if (orgs.length < ORG_BATCH || pass === 0) break;
    }
    if (reaped > 0) {
      await this.deletions.drain();
      this.log.info({ reaped, cutoff }, 'reaped pending attachments never completed');
    } else {
      this.log.debug({ reaped, cutoff }, 'reaped pending attachments never completed');
    }
    return reaped;
  }

  private orgsWithStalePending(cutoff: Date): Promise<string[]> {
    return withAppConnection(
      this.em,
      { [REAP_BEFORE_SETTING]: cutoff.toISOString() },
      async (tx) => {
        const result = await tx.query<{ org_id: string }>(
          sql`select distinct org_id from attachments where state = 'PENDING' and created_at < ${cutoff}::timestamptz limit ${ORG_BATCH}::int`,
        );
        await tx.commit();
        return result.rows.map((row) => row.org_id);
      },
      { readOnly: true },
    );
  }

  /** One org's stale pending rows, a batch per transaction bound to the org; how many went. */
  private async reapOrg(orgId: string, cutoff: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const queued = await forkForOrg(this.em, orgId).transactional((tx) =>
        tx.execute<{ object_key: string }[]>(`${enqueueDeletionsSql(STALE_PENDING)} returning object_key`, [orgId, orgId, cutoff, ROW_BATCH]),
      );
      total += queued.length;
      if (queued.length < ROW_BATCH) return total;
    }
  }

  start(): void {
    // At start too: a service restarted more often than the interval still reaps.
    this.job = periodicJob(() => this.reapDue(), { intervalMs: this.settings.intervalSeconds * 1000, log: this.log, what: 'pending attachment reaper' });
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job?.stop();
  }
}
