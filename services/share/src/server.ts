import { openAppRolePool } from '@taskmesh/runtime/tenant-sql';
import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { ShareServiceService } from '@taskmesh/gen/taskmesh/share/v1/share_service.js';
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
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { evictMembershipFor, MEMBERSHIP_EVENT_TYPES } from '@taskmesh/runtime/membership-eviction';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import type { ShareConfig } from './config.ts';
import { ShareCodeRecord, ShareLinkRecord, SharedPlaceRecord, SharedTaskRecord } from './db/entities.ts';
import { shareMigrations } from './db/migrations/index.ts';
import { sharedTaskFeed } from './events/shared-task-feed.ts';
import { shareAccessTable } from './handlers/access-table.ts';
import { shareHandlers } from './handlers/share-handlers.ts';
import { OpenThrottle } from './open-throttle.ts';
import { ShareLinks } from './share-links.ts';
import { taskDirectoryViaServices } from './task-directory.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';

export const SHARE_SERVICE_NAME = 'taskmesh.share.v1.ShareService';

export interface ShareDeps {
  config: ShareConfig;
  log: Logger;
  /** The process's event bus (the embedded launcher's shared one, started by it); else made from NATS_URL and started here. */
  bus?: EventBus;
}

export interface RunningShare {
  grpc: RunningGrpcServer;
  db: Database;
  links: ShareLinks;
  relay: OutboxRelay;
  membershipCache: MembershipCache;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), subscribes the shared-task feed, starts the outbox relay and serves
 * ShareService + health. Identity, org, task and board are dialled lazily.
 */
export async function startShare({ config, log, bus: sharedBus }: ShareDeps): Promise<RunningShare> {
  const db = await openDatabase({
    service: 'share',
    entities: [TenantScoped, ShareLinkRecord, ShareCodeRecord, SharedTaskRecord, SharedPlaceRecord, OutboxEvent],
    migrations: shareMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const taskClient = new TaskServiceClient(config.TASK_ADDR, credentials.createInsecure());
  const boardClient = new BoardServiceClient(config.BOARD_ADDR, credentials.createInsecure());
  const closeClients = () => {
    for (const client of [identityClient, orgClient, taskClient, boardClient]) client.close();
  };
  // rate-limiter-flexible takes a pg pool: a small one of its own, as the app role, with the same limits.
  const throttlePool = openAppRolePool(db, 2);
  throttlePool.on('error', (err) => log.warn({ err }, 'share throttle pool error'));
  const bus = sharedBus ?? createEventBus(config, log, 'share');
  const subscriptions: RunningSubscription[] = [];
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  const stopAll = async () => {
    await retention?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    for (const s of subscriptions) await s.stop().catch(() => undefined);
    if (!sharedBus) await bus.close().catch(() => undefined);
    closeClients();
    await throttlePool.end().catch(() => undefined);
    unobserveCaches();
    await db.close();
  };
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('share', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }) });
    subscriptions.push(await bus.subscribe(endedSessionsSubscription(endedSessions, 'share')));
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
    // Each replica evicts its own cache: a broadcast subscription.
    subscriptions.push(
      await bus.subscribe({
        consumer: `share-memberships-${Math.random().toString(36).slice(2, 10)}`,
        delivery: 'broadcast',
        types: MEMBERSHIP_EVENT_TYPES,
        maxDeliver: 1,
        handle: async (event) => {
          evictMembershipFor(membershipCache, event);
        },
      }),
    );
    subscriptions.push(await bus.subscribe(sharedTaskFeed(db.em)));
    subscriptions.push(
      await bus.subscribe(
        organizationPurgeSubscription(db.em, {
          consumer: 'share-purge',
          tables: ['share_codes', 'share_links', 'shared_tasks', 'shared_places', 'removed_resources'],
          outbox: true,
        }),
      ),
    );
    relay = startOutboxRelay({ em: db.em, service: 'share', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS, processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();

    const throttle = new OpenThrottle(throttlePool, db.schema, {
      maxFailuresPerCode: config.SHARE_OPEN_MAX_FAILURES_PER_CODE,
      maxFailuresPerAddress: config.SHARE_OPEN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: config.SHARE_OPEN_THROTTLE_WINDOW_SECONDS,
    });
    const links = new ShareLinks(db.em, taskDirectoryViaServices(taskClient, boardClient, config.UPSTREAM_TIMEOUT_MS), throttle, {
      baseUrl: config.SHARE_LINK_BASE_URL,
      argon2: { memoryCost: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_ITERATIONS, parallelism: config.ARGON2_PARALLELISM },
    });
    const implementation = bindService(
      ShareServiceService,
      withOrgContext(ShareServiceService, shareAccessTable, shareHandlers(links), { verifier, memberships: membershipCache, em: db.em }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.SHARE_PORT,
      log,
      database: db,
      services: [{ name: SHARE_SERVICE_NAME, definition: ShareServiceService, implementation }],
    });
    log.info({ address: grpc.address, events: bus.mode }, 'share service listening');
    return {
      grpc,
      db,
      links,
      relay,
      membershipCache,
      async close() {
        await grpc.shutdown();
        await stopAll();
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
