import type { EntityManager } from '@mikro-orm/postgresql';
import type { ExportOperationRecord } from './db/entities.ts';
import type { ExportOperations } from './db/export-operations.ts';
import { ARCHIVE_URL_TTL_SECONDS } from './domain/export-rules.ts';
import type { ExportWorker } from './export/export-worker.ts';
import type { ObjectDeletions } from './storage/object-deletions.ts';
import type { ObjectStore } from './storage/object-store.ts';

export interface ExportView {
  operation: ExportOperationRecord;
  /** A download URL signed for this answer, while the archive exists. */
  download: { url: string; expireTime: Date } | undefined;
}

/**
 * The export use cases behind ExportOrganization, GetOperation, ListOperations, CancelOperation and
 * DeleteOperation (OWNER only: the access table).
 */
export class OrgExports {
  constructor(
    private readonly operations: ExportOperations,
    private readonly worker: ExportWorker,
    private readonly store: ObjectStore,
    private readonly deletions: ObjectDeletions,
  ) {}

  /** Queues the export (or finds the one in flight) and wakes the worker once the queue row is committed. */
  async request(em: EntityManager, orgId: string, userId: string): Promise<ExportView> {
    const operation = await this.operations.request(em, orgId, userId);
    void this.worker.nudge();
    return { operation, download: undefined };
  }

  async get(em: EntityManager, orgId: string, operationId: string): Promise<ExportView> {
    return this.view(await this.operations.get(em, orgId, operationId));
  }

  async list(em: EntityManager, orgId: string, page: { pageSize: number; pageToken: string }): Promise<{ items: ExportView[]; nextPageToken: string }> {
    const result = await this.operations.list(em, orgId, page);
    return { items: await Promise.all(result.items.map((row) => this.view(row))), nextPageToken: result.nextPageToken };
  }

  /**
   * Cancels an export not yet done (committed first); if this process runs it, its stream or upload stops at
   * once, else its worker stops at its next page or object. A done operation is left as it is.
   */
  async cancel(em: EntityManager, orgId: string, userId: string, operationId: string): Promise<void> {
    if (await this.operations.cancel(em, orgId, operationId, userId)) this.worker.cancelled(operationId);
  }

  /** Forgets a done operation; its archive is deleted from the store before answering (retried later if the store refuses). */
  async delete(em: EntityManager, orgId: string, userId: string, operationId: string): Promise<void> {
    await this.operations.delete(em, orgId, operationId, userId);
    await this.deletions.drain().catch(() => undefined);
  }

  /** Presigning is local computation (no call to the store). */
  private async view(operation: ExportOperationRecord): Promise<ExportView> {
    const live = operation.state === 'SUCCEEDED' && operation.objectKey && operation.archiveExpiresAt && operation.archiveExpiresAt.getTime() > Date.now();
    const download = live ? await this.store.presignDownload(operation.objectKey!, ARCHIVE_URL_TTL_SECONDS) : undefined;
    return { operation, download };
  }
}
