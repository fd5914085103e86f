import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { EXPORT_LEASE_SECONDS, operationNameOf } from '../domain/export-rules.ts';
import { exportRequested } from '../events/export-events.ts';
import { ExportOperationRecord } from './entities.ts';

/** An export taken from the queue by one worker, until its lease lapses. */
export interface ExportJob {
  operationId: string;
  orgId: string;
  /** This attempt's number (1 for the first). */
  attempt: number;
}

export interface ArchiveWritten {
  objectKey: string;
  sizeBytes: number;
  recordCount: number;
}

/**
 * Export operations: the tenant-side use cases (request, get, list) on the org-bound EntityManager of the
 * org-context chain, and the worker's steps on export_queue. Each state change is one short transaction; the
 * worker's reads of other services and of the object store happen between them, never inside one.
 */
export class ExportOperations {
  constructor(
    /** The service's root EntityManager (the worker binds each job's org itself). */
    private readonly em: EntityManager,
    private readonly archiveRetentionHours: number,
  ) {}

  /** Queues an export of the org and its audited event; while one is pending or running, that one is returned instead. */
  async request(em: EntityManager, orgId: string, userId: string): Promise<ExportOperationRecord> {
    return em.transactional(async (tx) => {
      await tx.execute('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`exports:${orgId}`]);
      const inFlight = await tx.findOne(ExportOperationRecord, { state: { $in: ['PENDING', 'RUNNING'] } }, { orderBy: { createdAt: 'desc' } });
      if (inFlight) return inFlight;
      const now = new Date();
      const row = tx.create(ExportOperationRecord, {
        id: randomUUID(),
        orgId,
        requestedBy: userId,
        state: 'PENDING',
        objectKey: null,
        sizeBytes: null,
        recordCount: 0,
        errorMessage: null,
        createdAt: now,
        updatedAt: now,
        endedAt: null,
        archiveExpiresAt: null,
      });
      await tx.execute('insert into export_queue (operation_id, org_id) values (?, ?)', [row.id, orgId]);
      recordEvent(tx, exportRequested(orgId, row.id, userId));
      return row;
    });
  }

  async get(em: EntityManager, orgId: string, operationId: string): Promise<ExportOperationRecord> {
    const row = await em.findOne(ExportOperationRecord, { id: operationId });
    if (!row) throw new NotFoundError(operationNameOf(orgId, operationId));
    return row;
  }

  /** The org's operations, newest first. */
  async list(em: EntityManager, orgId: string, page: { pageSize: number; pageToken: string }): Promise<{ items: ExportOperationRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `operations:${orgId}`;
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const cursor = after ? { createdAt: new Date(after[0]), id: after[1] } : undefined;
    if (cursor && (Number.isNaN(cursor.createdAt.getTime()) || typeof cursor.id !== 'string')) {
      throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
    }
    const where = cursor ? { $or: [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, id: { $lt: cursor.id } }] } : {};
    const rows = await em.find(ExportOperationRecord, where, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 });
    return pageOf(rows, size, (r) => [r.createdAt.toISOString(), r.id], query);
  }

  /** Takes the oldest export nobody holds (never run, or whose worker stopped renewing its lease). */
  async claim(): Promise<ExportJob | undefined> {
    const [row] = await this.em.fork().execute<{ operation_id: string; org_id: string; attempts: number }[]>(
      `update export_queue set attempts = attempts + 1, leased_until = now() + make_interval(secs => ?)
         where operation_id = (
           select operation_id from export_queue where leased_until <= now() order by enqueued_at limit 1 for update skip locked
         )
         returning operation_id, org_id, attempts`,
      [EXPORT_LEASE_SECONDS],
    );
    return row ? { operationId: row.operation_id, orgId: row.org_id, attempt: row.attempts } : undefined;
  }

  /** Keeps the job's lease while it runs. */
  async renew(job: ExportJob): Promise<void> {
    await this.em.fork().execute('update export_queue set leased_until = now() + make_interval(secs => ?) where operation_id = ?', [
      EXPORT_LEASE_SECONDS,
      job.operationId,
    ]);
  }

  async markRunning(job: ExportJob): Promise<void> {
    await this.setState(job, { state: 'RUNNING' });
  }

  /**
   * Records the archive and leaves the queue in one transaction; the archive's removal is queued for when it
   * expires (object_deletions, drained by the same worker as deleted attachments).
   */
  async succeed(job: ExportJob, archive: ArchiveWritten): Promise<void> {
    const now = new Date();
    const expires = new Date(now.getTime() + this.archiveRetentionHours * 3_600_000);
    await forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOneOrFail(ExportOperationRecord, { id: job.operationId });
      Object.assign(row, {
        state: 'SUCCEEDED',
        objectKey: archive.objectKey,
        sizeBytes: archive.sizeBytes,
        recordCount: archive.recordCount,
        updatedAt: now,
        endedAt: now,
        archiveExpiresAt: expires,
      });
      await tx.execute(
        `insert into object_deletions (object_key, org_id, next_attempt_at) values (?, ?, ?)
           on conflict (object_key) do update set next_attempt_at = excluded.next_attempt_at`,
        [archive.objectKey, job.orgId, expires],
      );
      await tx.execute('delete from export_queue where operation_id = ?', [job.operationId]);
    });
  }

  /** Gives up on the export: FAILED with a message for the owner, out of the queue. */
  async fail(job: ExportJob, message: string): Promise<void> {
    const now = new Date();
    await forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOne(ExportOperationRecord, { id: job.operationId });
      if (row) Object.assign(row, { state: 'FAILED', errorMessage: message, updatedAt: now, endedAt: now });
      await tx.execute('delete from export_queue where operation_id = ?', [job.operationId]);
    });
  }

  /** Back to PENDING, to be taken again after `delaySeconds`. */
  async retryLater(job: ExportJob, delaySeconds: number): Promise<void> {
    await forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOne(ExportOperationRecord, { id: job.operationId });
      if (row) Object.assign(row, { state: 'PENDING', updatedAt: new Date() });
      await tx.execute('update export_queue set leased_until = now() + make_interval(secs => ?) where operation_id = ?', [delaySeconds, job.operationId]);
    });
  }

  /** The operation's row, bound to its org (the worker's read before it starts). */
  find(job: ExportJob): Promise<ExportOperationRecord | null> {
    return forkForOrg(this.em, job.orgId).findOne(ExportOperationRecord, { id: job.operationId });
  }

  private async setState(job: ExportJob, changes: { state: string }): Promise<void> {
    await forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOneOrFail(ExportOperationRecord, { id: job.operationId });
      Object.assign(row, { ...changes, updatedAt: new Date() });
    });
  }
}
