import { Migration } from '@mikro-orm/migrations';
import pino from 'pino';
import { TaskAssigned } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { PROCESSED_EVENTS_TABLE_SQL } from '@taskmesh/runtime/events/processed-events';
import { domainEvent, OUTBOX_TABLE_SQL, OUTBOX_TRACE_CONTEXT_SQL, OutboxEvent, recordEvent } from '@taskmesh/runtime/outbox';
import type { TestDatabase } from '@taskmesh/runtime/testing/test-database';

/** A service database of the tests' own: an outbox (producer side), processed_events and a table of effects. */
class EventTestSchema extends Migration {
  override name = '0001-event-test';
  override up(): void {
    this.addSql(OUTBOX_TABLE_SQL);
    this.addSql(OUTBOX_TRACE_CONTEXT_SQL);
    this.addSql(PROCESSED_EVENTS_TABLE_SQL);
    this.addSql(`create table side_effect (id bigint generated always as identity primary key, consumer text not null, event_id uuid not null, delivery integer not null)`);
  }
}

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL || 'silent' });

export function openEventTestDatabase(testDb: TestDatabase, service = 'eventtest'): Promise<Database> {
  return openDatabase({
    service,
    entities: [OutboxEvent],
    migrations: [{ name: '0001-event-test', class: EventTestSchema }],
    databaseUrl: testDb.databaseUrl,
    log: quietLog,
    poolMax: 4,
  });
}

export const TASK_ASSIGNED = 'taskmesh.task.v1.TaskAssigned';
export const ORG = 'organizations/0b8f6a8e-2a51-4a57-9d64-7f3e0c2f4d11';

/** Commits `count` TaskAssigned events through the real outbox, one transaction each; returns their ids in order. */
export async function writeEvents(db: Database, count: number, label = 'task'): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const em = db.em.fork();
    await em.transactional(async (tx) => {
      recordEvent(
        tx,
        domainEvent(TASK_ASSIGNED, TaskAssigned, { task: `${ORG}/boards/b1/tasks/${label}-${i}`, title: `${label} ${i}`, assignees: ['users/u1'] }, {
          resource: `${ORG}/boards/b1/tasks/${label}-${i}`,
          organization: ORG,
          actor: 'users/u0',
        }),
      );
    });
    const row = await db.em.fork().findOneOrFail(OutboxEvent, { resource: `${ORG}/boards/b1/tasks/${label}-${i}` });
    ids.push(row.id);
  }
  return ids;
}

export async function unsentCount(db: Database): Promise<number> {
  const rows = await db.em.fork().execute<{ n: string }[]>('select count(*) as n from outbox where published_at is null');
  return Number(rows[0]!.n);
}

export async function sideEffects(db: Database, consumer: string): Promise<{ event_id: string; delivery: number }[]> {
  return db.em.fork().execute('select event_id, delivery from side_effect where consumer = ? order by id', [consumer]);
}

/** Polls until `check` holds (bounded: no test waits forever). */
export async function eventually<T>(check: () => Promise<T | undefined | false>, what: string, tries = 300, everyMs = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const result = await check();
    if (result !== undefined && result !== false) return result;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}
