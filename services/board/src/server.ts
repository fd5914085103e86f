import { randomUUID } from 'node:crypto';
import { credentials, Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BoardServiceService } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { callerCaches } from '@taskmesh/runtime/caller-caches';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { apiTokensViaOrgService, cachedApiTokens } from '@taskmesh/runtime/api-token-auth';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { EndedSessions, endedSessionsFromIdentity, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startBookkeepingRetention, type BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { startOutboxRelay, type OutboxRelay } from '@taskmesh/runtime/events/relay';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { evictMembershipFor, MEMBERSHIP_EVENT_TYPES } from '@taskmesh/runtime/membership-eviction';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext, type TenantContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import type { BoardConfig } from './config.ts';
import { BoardRecord, ListRecord } from './db/entities.ts';
import { Boards } from './db/boards.ts';
import { Lists } from './db/lists.ts';
import { boardMigrations } from './db/migrations/index.ts';
import { boardAccessTable } from './handlers/access-table.ts';
import { boardHandlers } from './handlers/board-handlers.ts';
import { BoardWatchHub } from './events/board-watch-hub.ts';
import { WATCHED_EVENT_TYPES } from './events/watch-routing.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';

export const BOARD_SERVICE_NAME = 'taskmesh.board.v1.BoardService';


export interface BoardDeps {
  config: BoardConfig;
  log: Logger;
  /**
   * The process's event bus. The embedded launcher passes the one in-process bus all its services share and
   * calls its start() once every service has subscribed. When absent, the service makes its own from NATS_URL
   * (in-process when unset) and starts it.
   */
  bus?: EventBus;
}

export interface RunningBoard {
  grpc: RunningGrpcServer;
  db: Database;
  boards: Boards;
  lists: Lists;
  watchHub: BoardWatchHub;
  relay: OutboxRelay;
  membershipCache: MembershipCache;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), starts the outbox relay and the event subscription that feeds WatchBoard
 * streams and evicts cached memberships, and serves BoardService + health. Identity (JWKS), org
 * (GetMembership) and task (CountListTasks) are dialled lazily: they need not be up when the board starts.
 */
export async function startBoard({ config, log, bus: sharedBus }: BoardDeps): Promise<RunningBoard> {
  const db = await openDatabase({
    service: 'board',
    entities: [TenantScoped, BoardRecord, ListRecord, OutboxEvent],
    migrations: boardMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const taskClient = new TaskServiceClient(config.TASK_ADDR, credentials.createInsecure());
  const closeClients = () => {
    identityClient.close();
    orgClient.close();
    taskClient.close();
  };
  const bus = sharedBus ?? createEventBus(config, log, 'board');
  let subscription: RunningSubscription | undefined;
  let purgeEvents: RunningSubscription | undefined;
  let sessionEvents: RunningSubscription | undefined;
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('board', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    // Tokens of ended sessions are refused: the list from identity, kept current by its events.
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }) });
    sessionEvents = await bus.subscribe(endedSessionsSubscription(endedSessions, 'board'));
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
    const watchHub = new BoardWatchHub();
    // Every replica must see every event to serve its own watchers and evict its own cache: a broadcast
    // subscription (an ephemeral consumer from now on), not a shared durable one.
    subscription = await bus.subscribe({
      consumer: `board-watch-${randomUUID().slice(0, 8)}`,
      delivery: 'broadcast',
      types: [...new Set([...WATCHED_EVENT_TYPES, ...MEMBERSHIP_EVENT_TYPES])],
      // Live streams only: a watcher that missed an event reloads the board, so nothing is worth a redelivery.
      maxDeliver: 1,
      handle: async (event) => {
        evictMembershipFor(membershipCache, event);
        await watchHub.deliver(event);
      },
      // What arrived together, in one call (one span, no per-event ack: the consumer has ack policy none).
      // Each event is settled on its own: a batch that threw would be handed to `handle` again, and watchers
      // would see its first events twice.
      handleBatch: async (events) => {
        for (const event of events) {
          try {
            evictMembershipFor(membershipCache, event);
            await watchHub.deliver(event);
          } catch (err) {
            log.warn({ err, eventId: event.id, eventType: event.type }, 'board watch feed skipped an event');
          }
        }
      },
    });
    purgeEvents = await bus.subscribe(organizationPurgeSubscription(db.em, { consumer: 'board-purge', tables: ['lists', 'boards'], outbox: true }));
    relay = startOutboxRelay({ em: db.em, service: 'board', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();

    const boards = new Boards();
    const lists = new Lists();
    /** CountListTasks as the caller: the task service runs its own org-context step on the same token. */
    const countListTasks = async (list: string, context: TenantContext): Promise<number> => {
      const metadata = new Metadata();
      const authorization = context.call.metadata.get('authorization')[0];
      if (typeof authorization === 'string') metadata.set('authorization', authorization);
      metadata.set('x-request-id', context.call.requestId);
      const res = await callUnary(taskClient, taskClient.countListTasks, { name: list }, { metadata, timeoutMs: config.UPSTREAM_TIMEOUT_MS });
      return res.taskCount;
    };
    const implementation = bindService(
      BoardServiceService,
      withOrgContext(BoardServiceService, boardAccessTable, boardHandlers({ boards, lists }, { countListTasks, watchHub, watchHeartbeatMs: config.WATCH_HEARTBEAT_SECONDS * 1000 }), {
        verifier,
        memberships: membershipCache,
        em: db.em,
      }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.BOARD_PORT,
      log,
      database: db,
      services: [{ name: BOARD_SERVICE_NAME, definition: BoardServiceService, implementation }],
    });
    log.info({ address: grpc.address, events: bus.mode }, 'board service listening');
    const running: RunningBoard = {
      grpc,
      db,
      boards,
      lists,
      watchHub,
      relay,
      membershipCache,
      async close() {
        // Watch streams never end on their own: end them first so the drain does not wait for its grace period.
        watchHub.close();
        await grpc.shutdown();
        await retention?.stop();
        await relay?.stop();
        await subscription?.stop();
        await purgeEvents?.stop();
        await sessionEvents?.stop();
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
    if (!sharedBus) await bus.close().catch(() => undefined);
    closeClients();
    unobserveCaches();
    await db.close();
    throw err;
  }
}
