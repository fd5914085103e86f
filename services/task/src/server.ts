import { randomUUID } from 'node:crypto';
import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { callerCaches } from '@taskmesh/runtime/caller-caches';
import { apiTokensViaOrgService, cachedApiTokens } from '@taskmesh/runtime/api-token-auth';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startBookkeepingRetention, type BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { startOutboxRelay, type OutboxRelay } from '@taskmesh/runtime/events/relay';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { EndedSessions, endedSessionsFromIdentity, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { membershipEvictionSubscription } from '@taskmesh/runtime/membership-eviction';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import { boardDirectoryViaBoardService } from './board-directory.ts';
import { BOARD_CACHE_EVENT_TYPES, boardAnswerCache, cachedBoardDirectory, type BoardDirectoryCache } from './board-directory-cache.ts';
import { listingCaches, type ListingCaches } from './db/board-listing.ts';
import type { TaskConfig } from './config.ts';
import { taskMigrations } from './db/migrations/index.ts';
import { CONSUMED_EVENT_TYPES, TASK_CONSUMER, listDeletionHandler } from './events/list-deletions.ts';
import { taskAccessTable } from './handlers/access-table.ts';
import { taskHandlers } from './handlers/task-handlers.ts';
import { taskServiceDefinition } from './handlers/task-service-definition.ts';
import { SqlTaskStore } from './db/task-store.ts';
import { Tasks } from './domain/tasks.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';

export const TASK_SERVICE_NAME = 'taskmesh.task.v1.TaskService';

export interface TaskDeps {
  config: TaskConfig;
  log: Logger;
  /**
   * The process's event bus. The embedded launcher passes the one in-process bus all its services share and
   * calls its start() once every service has subscribed. When absent, the service makes its own from NATS_URL
   * (in-process when unset) and starts it.
   */
  bus?: EventBus;
}

export interface RunningTask {
  grpc: RunningGrpcServer;
  db: Database;
  tasks: Tasks;
  /** The chain's membership cache; a membership-events consumer evicts from it. */
  membershipCache: MembershipCache;
  /** The board service's answers; a board-events consumer evicts from it. */
  boardCache: BoardDirectoryCache;
  /** Pages and task bytes of board listings. */
  listingCaches: ListingCaches;
  relay: OutboxRelay;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it) and serves TaskService + health. Identity (JWKS), org (memberships) and
 * board (CheckBoardList) are dialled lazily, so they need not be up yet when this starts.
 */
export async function startTask({ config, log, bus: sharedBus }: TaskDeps): Promise<RunningTask> {
  const db = await openDatabase({
    service: 'task',
    entities: [TenantScoped, OutboxEvent],
    migrations: taskMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
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
  const bus = sharedBus ?? createEventBus(config, log, 'task');
  let subscription: RunningSubscription | undefined;
  let purgeEvents: RunningSubscription | undefined;
  let sessionEvents: RunningSubscription | undefined;
  let boardEvents: RunningSubscription | undefined;
  let consumer: RunningSubscription | undefined;
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  // The service's caches, each with its budget from the configuration, reported as `task`'s in the metrics.
  const boardAnswers = boardAnswerCache({ maxBoards: config.BOARD_CACHE_MAX_BOARDS, ttlMs: config.BOARD_CACHE_TTL_MS });
  const listing = listingCaches({ pageBytes: config.TASK_PAGE_CACHE_BYTES, rowBytes: config.TASK_BYTES_CACHE_BYTES });
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('task', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships, boardAnswers, listing.pages, listing.rows]);
  try {
    // Tokens of ended sessions are refused: the list from identity, kept current by its events.
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }) });
    sessionEvents = await bus.subscribe(endedSessionsSubscription(endedSessions, 'task'));
    const verifier = createAccessTokenVerifier({
      caches: callers.accessTokens,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }),
      endedSessions,
      apiTokens: cachedApiTokens(apiTokensViaOrgService(orgClient), callers.apiTokens),
    });
    const membershipCache = cachedMembershipLookup(
      membershipLookupViaOrgService(orgClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }),
      callers.memberships,
    );
    subscription = await bus.subscribe(membershipEvictionSubscription(membershipCache, 'task'));
    const boardCache = cachedBoardDirectory(boardDirectoryViaBoardService(boardClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }), boardAnswers);
    // Like the membership cache: each replica holds its own, so each needs every board event.
    boardEvents = await bus.subscribe({
      consumer: `task-boards-${randomUUID().slice(0, 8)}`,
      types: BOARD_CACHE_EVENT_TYPES,
      delivery: 'broadcast',
      handle: async (event) => boardCache.evictFor(event),
    });
    consumer = await bus.subscribe({ consumer: TASK_CONSUMER, types: CONSUMED_EVENT_TYPES, handle: listDeletionHandler(db.em) });
    purgeEvents = await bus.subscribe(organizationPurgeSubscription(db.em, { consumer: 'task-purge', tables: ['comments', 'tasks'], outbox: true }));
    relay = startOutboxRelay({ em: db.em, service: 'task', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS, processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();
    // The store's commits fire the ORM's commit hook, which nudges the relay.
    const tasks = new Tasks(new SqlTaskStore(), boardCache, membershipCache, listing);
    const implementation = bindService(
      taskServiceDefinition,
      withOrgContext(taskServiceDefinition, taskAccessTable(tasks), taskHandlers(tasks), {
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
      database: db,
      services: [{ name: TASK_SERVICE_NAME, definition: taskServiceDefinition, implementation }],
    });
    log.info({ address: grpc.address, events: bus.mode }, 'task service listening');
    const running: RunningTask = {
      grpc,
      db,
      tasks,
      membershipCache,
      boardCache,
      listingCaches: listing,
      relay,
      async close() {
        await grpc.shutdown();
        await retention?.stop();
        await relay?.stop();
        await subscription?.stop();
        await purgeEvents?.stop();
        await sessionEvents?.stop();
        await boardEvents?.stop();
        await consumer?.stop();
        if (!sharedBus) await bus.close();
        closeClients();
        unobserveCaches();
        await db.close();
      },
    };
    return running;
  } catch (err) {
    await retention?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await subscription?.stop().catch(() => undefined);
    await purgeEvents?.stop().catch(() => undefined);
    await sessionEvents?.stop().catch(() => undefined);
    await boardEvents?.stop().catch(() => undefined);
    await consumer?.stop().catch(() => undefined);
    if (!sharedBus) await bus.close().catch(() => undefined);
    closeClients();
    unobserveCaches();
    await db.close();
    throw err;
  }
}
