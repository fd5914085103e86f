import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { pageOf } from '@taskmesh/runtime/paging';
import { forkForOrg, ORG_SETTING } from '@taskmesh/runtime/tenancy';
import { cursorAfter, type AuditQuery } from '../domain/audit-query.ts';
import { AuditEventRecord, type RecordedChange } from './entities.ts';
import { PURGE_BEFORE_SETTING } from './purge-scope.ts';

export interface NewAuditEntry {
  /** The domain event's id. */
  id: string;
  orgId: string;
  eventType: string;
  actor: string;
  resource: string;
  occurTime: Date;
  changes: RecordedChange[];
  payload: Uint8Array;
}

/** Every query of the audit_events table. */
export class AuditLog {
  constructor(private readonly em: EntityManager) {}

  /**
   * Records an event in its org's log; false when it was recorded before (a redelivery or a republished
   * outbox row). One insert statement, so the unique event id alone makes handling effectively-once.
   */
  async record(entry: NewAuditEntry): Promise<boolean> {
    return forkForOrg(this.em, entry.orgId).transactional(async (tx) => {
      const inserted = await tx.execute<{ id: string }[]>(
        `insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload)
         values (?, ?, ?, ?, ?, ?, ?::jsonb, ?) on conflict (id) do nothing returning id`,
        [entry.id, entry.orgId, entry.eventType, entry.actor, entry.resource, entry.occurTime, JSON.stringify(entry.changes), Buffer.from(entry.payload)],
      );
      return inserted.length === 1;
    });
  }

  /**
   * Records several events in one transaction, one multi-row insert per org (each after setting that org for
   * row-level security, every row naming its org); returns the ids that were new. All or nothing.
   */
  async recordBatch(entries: readonly NewAuditEntry[]): Promise<Set<string>> {
    const byOrg = new Map<string, NewAuditEntry[]>();
    for (const entry of entries) {
      const list = byOrg.get(entry.orgId);
      if (list) list.push(entry);
      else byOrg.set(entry.orgId, [entry]);
    }
    const recorded = new Set<string>();
    await this.em.fork({ clear: true }).transactional(async (tx) => {
      for (const [orgId, list] of byOrg) {
        await tx.execute('select set_config(?, ?, true)', [ORG_SETTING, orgId]);
        const params: unknown[] = [];
        for (const entry of list) {
          params.push(entry.id, orgId, entry.eventType, entry.actor, entry.resource, entry.occurTime, JSON.stringify(entry.changes), Buffer.from(entry.payload));
        }
        const inserted = await tx.execute<{ id: string }[]>(
          `insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload)
           values ${list.map(() => '(?::uuid, ?::uuid, ?, ?, ?, ?::timestamptz, ?::jsonb, ?::bytea)').join(', ')}
           on conflict (id) do nothing returning id`,
          params,
        );
        for (const row of inserted) recorded.add(row.id);
      }
    });
    return recorded;
  }

  /** One page of the org's log, newest first. `em` is the caller's tenant fork (bound to query.orgId). */
  async list(em: EntityManager, query: AuditQuery): Promise<{ entries: AuditEventRecord[]; nextPageToken: string }> {
    const conditions: FilterQuery<AuditEventRecord>[] = [{ orgId: query.orgId }];
    if (query.actor) conditions.push({ actor: query.actor });
    if (query.resource) conditions.push({ resource: query.resource });
    if (query.eventType) conditions.push({ eventType: query.eventType });
    if (query.after) conditions.push({ occurTime: { $gte: query.after } });
    if (query.before) conditions.push({ occurTime: { $lt: query.before } });
    if (query.cursor) {
      const { occurTime, id } = query.cursor;
      conditions.push({ $or: [{ occurTime: { $lt: occurTime } }, { occurTime, id: { $lt: id } }] });
    }
    const rows = await em.find(AuditEventRecord, { $and: conditions }, {
      orderBy: { occurTime: 'desc', id: 'desc' },
      limit: query.pageSize + 1,
    });
    const page = pageOf(rows, query.pageSize, cursorAfter, query.fingerprint);
    return { entries: page.items, nextPageToken: page.nextPageToken };
  }

  /**
   * Deletes events that occurred before `cutoff`, in every org, in batches (short transactions); returns how
   * many. This is the one cross-org statement of the service: the RLS policies let a transaction reach rows
   * older than the cutoff it sets in app.audit_purge_before, and only those, only to read and delete them.
   */
  async purgeOlderThan(cutoff: Date, batchSize = 1_000): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.em.fork({ clear: true }).transactional(async (tx) => {
        await tx.execute('select set_config(?, ?, true)', [PURGE_BEFORE_SETTING, cutoff.toISOString()]);
        const rows = await tx.execute<{ id: string }[]>(
          'delete from audit_events where id in (select id from audit_events where occur_time < ? limit ?) returning id',
          [cutoff, batchSize],
        );
        return rows.length;
      });
      total += deleted;
      if (deleted < batchSize) return total;
    }
  }
}
