// The audit consumer's batch path: one transaction, one multi-row insert per org (each under that org's
// row-level security), idempotent by event id like the single path, all or nothing.
import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationUpdated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { PostgreSqlConnection } from '@mikro-orm/postgresql';
import pg from 'pg';
import { APP_ROLE, openDatabase, type Database } from '@taskmesh/runtime/database';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { PermanentEventError } from '@taskmesh/runtime/events/event-bus';
import { forkForOrg, TenantScoped } from '@taskmesh/runtime/tenancy';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { AuditLog } from '../src/db/audit-log.ts';
import { AuditEventRecord } from '../src/db/entities.ts';
import { auditMigrations } from '../src/db/migrations/index.ts';
import { auditSubscription } from '../src/events/audit-consumer.ts';

const log = pino({ level: 'silent' });
const ORG_UPDATED = 'taskmesh.org.v1.OrganizationUpdated';

let clock = Date.now();

function renamed(orgId: string, to: string, organization = `organizations/${orgId}`): ReceivedEvent {
  // Distinct occur times: the log is ordered by them (ties by id).
  clock += 1_000;
  return {
    id: randomUUID(),
    type: ORG_UPDATED,
    organization,
    actor: 'users/u1',
    resource: `organizations/${orgId}`,
    occurTime: new Date(clock),
    payload: OrganizationUpdated.encode({
      organization: { name: `organizations/${orgId}`, displayName: to, etag: '' } as never,
      changes: [{ field: 'display_name', oldValue: 'x', newValue: to }],
    }).finish(),
    deliveryCount: 1,
    traceContext: context.active(),
  };
}

describe('audit batch recording', () => {
  let testDb: TestDatabase;
  let db: Database;
  let auditLog: AuditLog;

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase({
      service: 'audit',
      entities: [TenantScoped, AuditEventRecord],
      migrations: auditMigrations,
      databaseUrl: testDb.databaseUrl,
      log,
    });
    auditLog = new AuditLog(db.em);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });

  const logOf = async (orgId: string) =>
    (await auditLog.list(forkForOrg(db.em, orgId), { orgId, pageSize: 100, fingerprint: '' })).entries
      .reverse()
      .map((entry) => ({ id: entry.id, orgId: entry.orgId, name: entry.changes[0]?.newValue }));

  it('records the events of several orgs in one call, each in its own org; a redelivered batch records nothing', async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const events = [renamed(a, 'A1'), renamed(b, 'B1'), renamed(a, 'A2')];
    const subscription = auditSubscription(auditLog, log);
    await subscription.handleBatch!(events);
    await subscription.handleBatch!(events.map((e) => ({ ...e, deliveryCount: 2 })));
    expect(await auditLog.recordBatch([])).toEqual(new Set());
    expect(await logOf(a)).toEqual([
      { id: events[0]!.id, orgId: a, name: 'A1' },
      { id: events[2]!.id, orgId: a, name: 'A2' },
    ]);
    expect(await logOf(b)).toEqual([{ id: events[1]!.id, orgId: b, name: 'B1' }]);
    // The same events one at a time are duplicates too.
    await subscription.handle(events[1]!);
    expect(await logOf(b)).toHaveLength(1);
  });

  it("keeps both walls in its one round trip: a row of another org than the one set is refused by RLS", async () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const pool = (await (db.em.getConnection() as PostgreSqlConnection).getNativeClient()) as pg.Pool;
    const client = await pool.connect();
    try {
      // The message recordBatch sends, with the row naming org b while org a is set.
      await expect(
        client.query(
          `set local role ${APP_ROLE}; set local search_path to audit; select set_config('app.org_id', '${a}', true); ` +
            `insert into audit_events (id, org_id, event_type, actor, resource, occur_time, changes, payload) ` +
            `values ('${randomUUID()}'::uuid, '${b}'::uuid, 't', 'a', 'r', now(), '[]'::jsonb, decode('', 'hex')) on conflict (id) do nothing returning id`,
        ),
      ).rejects.toThrow(/row-level security/);
      // Nothing of the failed message outlives it on the connection.
      const [{ org }] = (await client.query("select current_setting('app.org_id', true) as org")).rows;
      expect(org ?? '').toBe('');
    } finally {
      client.release();
    }
    expect(await logOf(b)).toEqual([]);
  });

  it('records nothing of a batch holding an event that can never be recorded (the bus then tries them one by one)', async () => {
    const a = randomUUID();
    const good = renamed(a, 'Good');
    const orgless = renamed(a, 'Orgless', '');
    const subscription = auditSubscription(auditLog, log);
    await expect(subscription.handleBatch!([good, orgless])).rejects.toBeInstanceOf(PermanentEventError);
    expect(await logOf(a)).toEqual([]);
    await subscription.handle(good);
    await expect(subscription.handle(orgless)).rejects.toBeInstanceOf(PermanentEventError);
    expect(await logOf(a)).toEqual([{ id: good.id, orgId: a, name: 'Good' }]);
  });
});
