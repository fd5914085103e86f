import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceService } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import { boardDirectoryViaBoardService } from './board-directory.ts';
import type { TaskConfig } from './config.ts';
import { CommentRecord, TaskRecord } from './db/entities.ts';
import { taskMigrations } from './db/migrations/0001-initial.ts';
import { taskAccessTable } from './handlers/access-table.ts';
import { taskHandlers } from './handlers/task-handlers.ts';
import { Tasks } from './tasks.ts';

export const TASK_SERVICE_NAME = 'taskmesh.task.v1.TaskService';

export interface TaskDeps {
  config: TaskConfig;
  log: Logger;
}

export interface RunningTask {
  grpc: RunningGrpcServer;
  db: Database;
  tasks: Tasks;
  /** The chain's membership cache; a membership-events consumer evicts from it. */
  membershipCache: MembershipCache;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it) and serves TaskService + health. Identity (JWKS), org (memberships) and
 * board (CheckBoardList) are dialled lazily, so they need not be up yet when this starts.
 */
export async function startTask({ config, log }: TaskDeps): Promise<RunningTask> {
  const db = await openDatabase({
    service: 'task',
    entities: [TenantScoped, TaskRecord, CommentRecord, OutboxEvent],
    migrations: taskMigrations,
    databaseUrl: config.DATABASE_URL,
    dataDir: config.TASKMESH_DATA_DIR,
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const boardClient = new BoardServiceClient(config.BOARD_ADDR, credentials.createInsecure());
  const closeClients = () => {
    identityClient.close();
    orgClient.close();
    boardClient.close();
  };
  try {
    const verifier = createAccessTokenVerifier({
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient),
    });
    const membershipCache = cachedMembershipLookup(membershipLookupViaOrgService(orgClient), {
      ttlMs: config.MEMBERSHIP_CACHE_TTL_MS,
    });
    const tasks = new Tasks(boardDirectoryViaBoardService(boardClient), membershipCache, log);
    const implementation = bindService(
      TaskServiceService,
      withOrgContext(TaskServiceService, taskAccessTable(tasks), taskHandlers(tasks), {
        verifier,
        memberships: membershipCache,
        em: db.em,
      }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.TASK_PORT,
      log,
      services: [{ name: TASK_SERVICE_NAME, definition: TaskServiceService, implementation }],
    });
    log.info({ address: grpc.address }, 'task service listening');
    return {
      grpc,
      db,
      tasks,
      membershipCache,
      async close() {
        await grpc.shutdown();
        closeClients();
        await db.close();
      },
    };
  } catch (err) {
    closeClients();
    await db.close();
    throw err;
  }
}
