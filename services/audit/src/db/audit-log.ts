import type { EntityManager, FilterQuery, PostgreSqlConnection } from '@mikro-orm/postgresql';
import pg from 'pg';
import { APP_ROLE } from '@taskmesh/runtime/database';
import { pageOf } from '@taskmesh/runtime/paging';
import { ORG_SETTING } from '@taskmesh/runtime/tenancy';
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
   * outbox row). The unique event id alone makes handling effectively-once.
   */
  async record(entry: NewAuditEntry): Promise<boolean> {
    return (await this.recordBatch([entry])).size === 1;
  }

  /**
   * Records events in their orgs' logs in ONE round trip; returns the ids that were new (the others were
   * recorded before). All or nothing.
   *
   * Through the ORM this was four round trips per event (begin, the org's set_config, the insert, commit).
   * Here the statements go out as one simple-protocol Query message, which PostgreSQL runs in order as one
   * implicit transaction (protocol docs, "Multiple Statements in a Simple Query"):
   *
   *   set local role taskmesh_app; set local search_path to "<schema>";
   *   select set_config('app.org_id', '<org>', true); insert … values (…), (…) on conflict (id) do nothing returning id;
   *   … the same two for each further org of the batch
   *
   * Both tenant walls hold as in the ORM's transaction: every row names its org (org_id), and each insert runs
   * as the app role (no BYPASSRLS) with app.org_id set to that org, so the RLS check refuses a row of another.
   * Everything set is transaction-local; an error anywhere aborts the whole message. The simple protocol takes
   * no parameters: values are literals (node-postgres's escapeLiteral; the payload as hex; ids cast to uuid).
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
    const schema = this.em.config.get('schema');
    if (!schema) throw new Error('AuditLog.recordBatch: the ORM has no schema');
    const statements = [`set local role ${pg.escapeIdentifier(APP_ROLE)}`, `set local search_path to ${pg.escapeIdentifier(schema)}`];
    for (const [orgId, list] of byOrg) {
      statements.push(`select set_config(${pg.escapeLiteral(ORG_SETTING)}, ${pg.escapeLiteral(orgId)}, true)`);
      const values = list.map(
        (e) =>
          `(${pg.escapeLiteral(e.id)}::uuid, ${pg.escapeLiteral(orgId)}::uuid, ${pg.escapeLiteral(e.eventType)}, ${pg.escapeLiteral(e.actor)}, ` +
          `${pg.escapeLiteral(e.resource)}, ${pg.escapeLiteral(e.occurTime.toISOString())}::timestamptz, ` +
          `${pg.escapeLiteral(JSON.stringify(e.changes))}::jsonb, decode('${Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength).toString('hex')}', 'hex'))`,
      );
      statements.push(
        `insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload) values ${values.join(', ')} ` +
          'on conflict (id) do nothing returning id',
      );
    }
    const pool = (await (this.em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      const results = (await client.query(statements.join('; '))) as unknown as pg.QueryResult<{ id: string }>[];
      if (!Array.isArray(results) || results.length !== statements.length) throw new Error('AuditLog.recordBatch: unexpected results');
      for (let i = 3; i < results.length; i += 2) for (const row of results[i]!.rows) recorded.add(row.id);
    } catch (err) {
      // Do not hand back a connection whose state cannot be vouched for.
      broken = err as Error;
      throw err;
    } finally {
      client.release(broken);
    }
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
