import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { eventWithoutAddress } from '@taskmesh/runtime/erased-addresses';
import { pageOf } from '@taskmesh/runtime/paging';
import { sql, withAppConnection, withOrgConnection } from '@taskmesh/runtime/tenant-sql';
import { cursorAfter, type AuditQuery } from '../domain/audit-query.ts';
import { AuditEventRecord, type RecordedChange } from './entities.ts';
import { ERASED_EMAIL_SHA256_SETTING, PURGE_BEFORE_SETTING } from './purge-scope.ts';

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
  /** emailDigest of the address the payload carries (invitations), so an erasure finds it; else null. */
  subjectEmailSha256: string | null;
}

/** Every query of the audit_events table. */
export class AuditLog {
  constructor(private readonly em: EntityManager) {}

  /**
   * Records an event in its org's log; false when it was recorded before (a redelivery or a republished
   * outbox row). The unique event id alone makes handling effectively-once.
   */
  async record(entry: NewAuditEntry): Promise<boolean> {
    return (await this.recordBatch([entry])).size === 1;
  }

  /**
   * Records events in their orgs' logs in ONE round trip through the tenant SQL door: per org of the batch, the
   * door enters that org (RLS refuses a row of another) and one insert writes its events. Returns the ids that
   * were new (the others were recorded before). All or nothing.
   */
  async recordBatch(entries: readonly NewAuditEntry[]): Promise<Set<string>> {
    const recorded = new Set<string>();
    if (entries.length === 0) return recorded;
    const byOrg = new Map<string, NewAuditEntry[]>();
    for (const entry of entries) {
      const list = byOrg.get(entry.orgId);
      if (list) list.push(entry);
      else byOrg.set(entry.orgId, [entry]);
    }
    const orgs = [...byOrg.keys()];
    const results = await withOrgConnection(this.em, orgs[0]!, async (tx) => {
      const inserts = orgs.map((orgId, i) => {
        if (i > 0) tx.enterOrg(orgId);
        const values = byOrg.get(orgId)!.map(
          (e) =>
            sql`(${e.id}::uuid, ${orgId}::uuid, ${e.eventType}, ${e.actor}, ${e.resource}, ${e.occurTime}::timestamptz, ${JSON.stringify(e.changes)}::jsonb, ${Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength)}::bytea, ${e.subjectEmailSha256})`,
        );
        return tx.query<{ id: string }>(
          sql`insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload, subject_email_sha256) values ${sql.join(values)} on conflict (id) do nothing returning id`,
        );
      });
      await tx.commit();
      return Promise.all(inserts);
    });
    for (const result of results) for (const row of result.rows) recorded.add(row.id);
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
   * Blanks an erased address in every entry that carries it, in every org: the RLS policies (migration 0002)
   * let a transaction naming the address's digest read and delete exactly those entries; each is written
   * again with the same id, time and actor, its payload blanked and no digest, under its own org. Idempotent:
   * a second run finds no entry. Returns how many.
   */
  async eraseAddress(emailSha256: string): Promise<number> {
    return withAppConnection(this.em, { [ERASED_EMAIL_SHA256_SETTING]: emailSha256 }, async (tx) => {
      const carrying = await tx.query<{
        id: string;
        org_id: string;
        event_type: string;
        actor: string;
        resource: string;
        occur_time: string;
        changes: unknown;
        payload: Buffer;
        recorded_at: string;
      }>(
        sql`delete from audit_events where subject_email_sha256 = ${emailSha256}
            returning id, org_id, event_type, actor, resource, occur_time::text, changes, payload, recorded_at::text`,
      );
      for (const row of carrying.rows) {
        tx.enterOrg(row.org_id);
        const payload = Buffer.from(eventWithoutAddress(row.event_type, row.payload));
        void tx.query(
          sql`insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload, recorded_at)
              values (${row.id}::uuid, ${row.org_id}::uuid, ${row.event_type}, ${row.actor}, ${row.resource}, ${row.occur_time}::timestamptz,
                      ${JSON.stringify(row.changes)}::jsonb, ${payload}::bytea, ${row.recorded_at}::timestamptz)`,
        );
      }
      await tx.commit();
      return carrying.rows.length;
    });
  }

  /**
   * Deletes events that occurred before `cutoff`, in every org, in batches (short transactions); returns how
   * many. This is the one cross-org statement of the service: the RLS policies let a transaction reach rows
   * older than the cutoff it sets in app.audit_purge_before, and only those, only to read and delete them.
   */
  async purgeOlderThan(cutoff: Date, batchSize = 1_000): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await withAppConnection(this.em, { [PURGE_BEFORE_SETTING]: cutoff.toISOString() }, async (tx) => {
        const result = await tx.query(
          sql`delete from audit_events where id in (select id from audit_events where occur_time < ${cutoff}::timestamptz limit ${batchSize}::int) returning id`,
        );
        return result.rowCount;
      });
      total += deleted;
      if (deleted < batchSize) return total;
    }
  }
}
