import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { LockMode } from '@mikro-orm/core';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { archiveKeyOf, EXPORT_LEASE_SECONDS, isDone, operationNameOf } from '../domain/export-rules.ts';
import { exportEvent } from '../events/export-events.ts';
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

/** The error of a cancelled operation (google.rpc.Code CANCELLED). */
export const CANCELLED_MESSAGE = 'the export was cancelled';

/** Schedules the removal of an object at `at` (object_deletions, drained by ObjectDeletions); a key already queued takes the new time. */
const SCHEDULE_DELETION_SQL = `insert into object_deletions (object_key, org_id, next_attempt_at) values (?, ?, ?)
  on conflict (object_key) do update set next_attempt_at = excluded.next_attempt_at`;

/**
 * Export operations: the tenant-side use cases (request, get, list, cancel, delete) on the org-bound EntityManager of the
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
      recordEvent(tx, exportEvent('Requested', orgId, row.id, userId));
      return row;
    });
  }

  async get(em: EntityManager, orgId: string, operationId: string): Promise<ExportOperationRecord> {
    const row = await em.findOne(ExportOperationRecord, { id: operationId });
    if (!row) throw new NotFoundError(operationNameOf(orgId, operationId));
    return row;
  }

  /**
   * Cancels an operation not yet done: CANCELLED, out of the queue (a worker running it sees that at its next
   * page or object), its archive key queued for removal now, audited. True when it was cancelled; false when
   * it was already done (nothing changes). The row is locked, so a worker recording success waits for this and
   * then finds it cancelled.
   */
  async cancel(em: EntityManager, orgId: string, operationId: string, userId: string): Promise<boolean> {
    return em.transactional(async (tx) => {
      const row = await this.locked(tx, orgId, operationId);
      if (isDone(row.state)) return false;
      const now = new Date();
      Object.assign(row, { state: 'CANCELLED', errorMessage: CANCELLED_MESSAGE, updatedAt: now, endedAt: now });
      await tx.execute('delete from export_queue where operation_id = ?', [operationId]);
      await tx.execute(SCHEDULE_DELETION_SQL, [archiveKeyOf(orgId, operationId), orgId, now]);
      recordEvent(tx, exportEvent('Cancelled', orgId, operationId, userId));
      return true;
    });
  }

  /**
   * Forgets a finished operation and queues its archive for removal now, audited. An operation not yet done is
   * FAILED_PRECONDITION: deleting must not silently stop an export the owner may be waiting for; cancel it first.
   */
  async delete(em: EntityManager, orgId: string, operationId: string, userId: string): Promise<void> {
    await em.transactional(async (tx) => {
      const row = await this.locked(tx, orgId, operationId);
      if (!isDone(row.state)) {
        throw new FailedPreconditionError('the operation is not done: cancel it first, then delete it', { reason: 'OPERATION_NOT_DONE' });
      }
      // Failed and cancelled attempts may have left an object under the same key: it is removed all the same.
      await tx.execute(SCHEDULE_DELETION_SQL, [row.objectKey ?? archiveKeyOf(orgId, operationId), orgId, new Date()]);
      tx.remove(row);
      recordEvent(tx, exportEvent('Deleted', orgId, operationId, userId));
    });
  }

  private async locked(tx: EntityManager, orgId: string, operationId: string): Promise<ExportOperationRecord> {
    const row = await tx.findOne(ExportOperationRecord, { id: operationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
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

  /** Keeps the job's lease while it runs; false when the job left the queue (cancelled). */
  async renew(job: ExportJob): Promise<boolean> {
    const rows = await this.em.fork().execute<{ operation_id: string }[]>(
      'update export_queue set leased_until = now() + make_interval(secs => ?) where operation_id = ? returning operation_id',
      [EXPORT_LEASE_SECONDS, job.operationId],
    );
    return rows.length > 0;
  }

  /** Whether the job is still to be done: CancelOperation takes it out of the queue. One primary-key read. */
  async stillQueued(job: ExportJob): Promise<boolean> {
    const rows = await this.em.fork().execute<unknown[]>('select 1 from export_queue where operation_id = ?', [job.operationId]);
    return rows.length > 0;
  }

  /** RUNNING, unless it was cancelled meanwhile (false). */
  async markRunning(job: ExportJob): Promise<boolean> {
    return this.transition(job, (row) => Object.assign(row, { state: 'RUNNING', updatedAt: new Date() }));
  }

  /**
   * A worker whose job was cancelled has stopped writing: whatever it uploaded under the archive's key is
   * queued for removal now (again after the cancel's own entry, for an upload that ended after that one ran).
   */
  async dropArchive(job: ExportJob): Promise<void> {
    await this.em.fork().execute(SCHEDULE_DELETION_SQL, [archiveKeyOf(job.orgId, job.operationId), job.orgId, new Date()]);
  }

  /**
   * Records the archive and leaves the queue in one transaction; the archive's removal is queued for when it
   * expires (object_deletions, drained by the same worker as deleted attachments). False when the operation was
   * cancelled meanwhile: the archive is then queued for removal now instead.
   */
  async succeed(job: ExportJob, archive: ArchiveWritten): Promise<boolean> {
    const now = new Date();
    const expires = new Date(now.getTime() + this.archiveRetentionHours * 3_600_000);
    return forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOne(ExportOperationRecord, { id: job.operationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!row || isDone(row.state)) {
        await tx.execute(SCHEDULE_DELETION_SQL, [archive.objectKey, job.orgId, now]);
        await tx.execute('delete from export_queue where operation_id = ?', [job.operationId]);
        return false;
      }
      Object.assign(row, {
        state: 'SUCCEEDED',
        objectKey: archive.objectKey,
        sizeBytes: archive.sizeBytes,
        recordCount: archive.recordCount,
        updatedAt: now,
        endedAt: now,
        archiveExpiresAt: expires,
      });
      await tx.execute(SCHEDULE_DELETION_SQL, [archive.objectKey, job.orgId, expires]);
      await tx.execute('delete from export_queue where operation_id = ?', [job.operationId]);
      return true;
    });
  }

  /** Gives up on the export: FAILED with a message for the owner (unless already done), out of the queue. */
  async fail(job: ExportJob, message: string): Promise<void> {
    const now = new Date();
    await this.transition(job, (row) => Object.assign(row, { state: 'FAILED', errorMessage: message, updatedAt: now, endedAt: now }), async (tx) => {
      await tx.execute('delete from export_queue where operation_id = ?', [job.operationId]);
    });
  }

  /** Back to PENDING, to be taken again after `delaySeconds` (unless cancelled meanwhile). */
  async retryLater(job: ExportJob, delaySeconds: number): Promise<void> {
    await this.transition(job, (row) => Object.assign(row, { state: 'PENDING', updatedAt: new Date() }), async (tx) => {
      await tx.execute('update export_queue set leased_until = now() + make_interval(secs => ?) where operation_id = ?', [delaySeconds, job.operationId]);
    });
  }

  /** The operation's row, bound to its org (the worker's read before it starts). */
  find(job: ExportJob): Promise<ExportOperationRecord | null> {
    return forkForOrg(this.em, job.orgId).findOne(ExportOperationRecord, { id: job.operationId });
  }

  /**
   * Changes the operation's row while it is not done (a done one, e.g. cancelled, is left as it is), then runs
   * `also` in the same transaction either way. True when the row was changed.
   */
  private async transition(job: ExportJob, change: (row: ExportOperationRecord) => void, also?: (tx: EntityManager) => Promise<void>): Promise<boolean> {
    return forkForOrg(this.em, job.orgId).transactional(async (tx) => {
      const row = await tx.findOne(ExportOperationRecord, { id: job.operationId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      const open = row !== null && !isDone(row.state);
      if (open) change(row);
      await also?.(tx);
      return open;
    });
  }
}
