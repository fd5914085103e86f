import { randomUUID } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import pino from 'pino';
import { NotFoundError } from '@taskmesh/runtime/errors';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { activeOrgsLookup, type MembershipLookup, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { forkForOrg, TenantScoped } from '@taskmesh/runtime/tenancy';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import type { BoardDirectory } from '../src/board-directory.ts';
import { taskMigrations } from '../src/db/migrations/index.ts';
import { listingCaches, type ListingCaches } from '../src/db/board-listing.ts';
import { SqlTaskStore } from '../src/db/task-store.ts';
import { Tasks, type NewTask, type TaskContext } from '../src/domain/tasks.ts';

/**
 * The task use cases on the real database (PostgreSQL), with the board
 * service and org memberships played by in-memory tables. Only for tests of the domain and db layers: the
 * server always uses the real BoardService and OrgService stubs.
 */
export interface TaskFixture {
  testDb: TestDatabase;
  db: Database;
  tasks: Tasks;
  /** The listing caches `tasks` uses. */
  caches: ListingCaches;
  /** orgId → boardId → live list ids. */
  boards: Map<string, Map<string, Set<string>>>;
  /** orgId → userId → role. */
  members: Map<string, Map<string, OrgRole>>;
  /** How many write transactions have committed (the ORM's commit hook, which nudges the outbox relay). */
  commits: number;
  newOrg(): { orgId: string; userId: string; boardId: string; listIds: string[] };
  scope(orgId: string, userId: string): TaskContext;
  close(): Promise<void>;
}

export async function startTaskFixture(): Promise<TaskFixture> {
  const testDb = await createTestDatabase();
  const db = await openDatabase({
    service: 'task',
    entities: [TenantScoped, OutboxEvent],
    migrations: taskMigrations,
    databaseUrl: testDb.databaseUrl,
    log: pino({ level: 'silent' }),
  });
  const boards = new Map<string, Map<string, Set<string>>>();
  const members = new Map<string, Map<string, OrgRole>>();
  const directory: BoardDirectory = {
    async check(orgId, boardId, listId) {
      const lists = boards.get(orgId)?.get(boardId);
      if (!lists) throw new NotFoundError(`organizations/${orgId}/boards/${boardId}`);
      return { listExists: listId ? lists.has(listId) : false };
    },
    async listIdsInOrder(orgId, boardId) {
      const lists = boards.get(orgId)?.get(boardId);
      if (!lists) throw new NotFoundError(`organizations/${orgId}/boards/${boardId}`);
      return [...lists];
    },
  };
  const lookup: MembershipLookup = activeOrgsLookup(async (orgId, userId) => members.get(orgId)?.get(userId));
  const caches = listingCaches({ pageBytes: 32 * 1024 * 1024, rowBytes: 32 * 1024 * 1024 });
  const tasks = new Tasks(new SqlTaskStore(), directory, lookup, caches);
  db.em.getEventManager().registerSubscriber({ afterTransactionCommit: () => void fixture.commits++ });
  const fixture: TaskFixture = {
    commits: 0,
    testDb,
    db,
    tasks,
    caches,
    boards,
    members,
    newOrg() {
      const orgId = randomUUID();
      const userId = randomUUID();
      const boardId = randomUUID();
      const listIds = [randomUUID(), randomUUID(), randomUUID()];
      boards.set(orgId, new Map([[boardId, new Set(listIds)]]));
      members.set(orgId, new Map([[userId, 'OWNER']]));
      return { orgId, userId, boardId, listIds };
    },
    scope: (orgId, userId) => ({
      em: forkForOrg(db.em, orgId),
      org: { id: orgId, name: `organizations/${orgId}` },
      principal: { userId, sessionId: '', tokenId: '' },
      call: { metadata: new Metadata(), signal: new AbortController().signal } as unknown as TaskContext['call'],
    }),
    async close() {
      await db.close();
      await testDb.drop();
    },
  };
  return fixture;
}

/** A new task with defaults: no description, MEDIUM, nobody assigned, no labels, no due time. */
export const draft = (listId: string, title: string, extra: Partial<NewTask> = {}): NewTask => ({
  listId,
  title,
  description: '',
  priority: 'MEDIUM',
  assignees: [],
  labels: [],
  dueTime: null,
  ...extra,
});
