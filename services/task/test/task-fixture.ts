import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { NotFoundError } from '@taskmesh/runtime/errors';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import type { MembershipLookup, OrgRole } from '@taskmesh/runtime/membership-lookup';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { forkForOrg, TenantScoped } from '@taskmesh/runtime/tenancy';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import type { BoardDirectory } from '../src/board-directory.ts';
import { CommentRecord, TaskRecord } from '../src/db/entities.ts';
import { taskService } from '../src/descriptor.ts';
import { Tasks, type TaskScope } from '../src/tasks.ts';
import type { NewTask } from '../src/tasks.ts';

/**
 * The task use cases on the real database (PostgreSQL), with the board
 * service and org memberships played by in-memory tables. Only for tests of the domain and db layers: the
 * server always uses the real BoardService and OrgService stubs.
 */
export interface TaskFixture {
  testDb: TestDatabase;
  db: Database;
  tasks: Tasks;
  /** orgId → boardId → live list ids. */
  boards: Map<string, Map<string, Set<string>>>;
  /** orgId → userId → role. */
  members: Map<string, Map<string, OrgRole>>;
  /** How many plain-SQL task writes have committed (what nudges the outbox relay in the service). */
  commits: number;
  newOrg(): { orgId: string; userId: string; boardId: string; listIds: string[] };
  scope(orgId: string, userId: string): TaskScope;
  close(): Promise<void>;
}

export async function startTaskFixture(): Promise<TaskFixture> {
  const testDb = await createTestDatabase();
  const db = await openDatabase({
    service: taskService.name,
    entities: [TenantScoped, TaskRecord, CommentRecord, OutboxEvent],
    migrations: [...taskService.migrations],
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
  const lookup: MembershipLookup = { roleOf: async (orgId, userId) => members.get(orgId)?.get(userId) };
  const tasks = new Tasks(directory, lookup, pino({ level: 'silent' }), () => fixture.commits++);
  const fixture: TaskFixture = {
    commits: 0,
    testDb,
    db,
    tasks,
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
    scope: (orgId, userId) => ({ em: forkForOrg(db.em, orgId), orgId, userId }),
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
