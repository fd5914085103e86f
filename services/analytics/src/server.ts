import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AnalyticsServiceService } from '@taskmesh/gen/taskmesh/analytics/v1/analytics_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { callerCaches } from '@taskmesh/runtime/caller-caches';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { apiTokensViaOrgService, cachedApiTokens } from '@taskmesh/runtime/api-token-auth';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { EndedSessions, endedSessionsFromIdentity, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { membershipEvictionSubscription } from '@taskmesh/runtime/membership-eviction';
import { cachedMembershipLookup, membershipLookupViaOrgService } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import type { AnalyticsConfig } from './config.ts';
import { DailyCounterRecord } from './db/entities.ts';
import { analyticsMigrations } from './db/migrations/index.ts';
import { OverdueRollup } from './db/overdue-rollup.ts';
import { analyticsSubscription } from './events/analytics-consumer.ts';
import { ORG_TABLES } from './db/activity-store.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';
import { analyticsAccessTable } from './handlers/access-table.ts';
import { analyticsHandlers } from './handlers/analytics-handlers.ts';

export const ANALYTICS_SERVICE_NAME = 'taskmesh.analytics.v1.AnalyticsService';

export interface AnalyticsDeps {
  config: AnalyticsConfig;
  log: Logger;
  /** The event bus shared by the services of this process; absent: its own from NATS_URL (closed on close()). */
  bus?: EventBus;
}

export interface RunningAnalytics {
  grpc: RunningGrpcServer;
  db: Database;
  rollup: OverdueRollup;
  /** The shared durable consumer that counts events. */
  subscription: RunningSubscription;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), subscribes the counting consumer, starts the rollup job and serves
 * AnalyticsService + health. Identity (IDENTITY_ADDR) and org (ORG_ADDR) are needed only by calls.
 */
export async function startAnalytics({ config, log, bus }: AnalyticsDeps): Promise<RunningAnalytics> {
  const db = await openDatabase({
    service: 'analytics',
    entities: [TenantScoped, DailyCounterRecord],
    migrations: analyticsMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const ownBus = bus ? undefined : createEventBus(config, log, 'analytics');
  const events = bus ?? ownBus!;
  const subscriptions: RunningSubscription[] = [];
  const rollup = new OverdueRollup(db.em, { intervalSeconds: config.ANALYTICS_ROLLUP_INTERVAL_SECONDS }, log);
  const rollupJob = rollup.schedule();
  const retention = new BookkeepingRetention(
    db.em,
    { processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS },
    { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log },
  );
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('analytics', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    // Tokens of ended sessions are refused: the list from identity, kept current by its events.
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient) });
    subscriptions.push(await events.subscribe(endedSessionsSubscription(endedSessions, 'analytics')));
    const verifier = createAccessTokenVerifier({
      caches: callers.accessTokens,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient),
      endedSessions,
      apiTokens: cachedApiTokens(apiTokensViaOrgService(orgClient), callers.apiTokens),
    });
    const membershipCache = cachedMembershipLookup(membershipLookupViaOrgService(orgClient), callers.memberships);
    const counter = await events.subscribe(analyticsSubscription(db.em, { orgRetentionDays: config.ORG_RETENTION_DAYS }));
    subscriptions.push(counter);
    subscriptions.push(await events.subscribe(membershipEvictionSubscription(membershipCache, 'analytics')));
    // The org service's purge of a deleted org removes its figures at once (the own schedule stays as a fallback).
    subscriptions.push(
      await events.subscribe(organizationPurgeSubscription(db.em, { consumer: 'analytics-purge', tables: [...ORG_TABLES, 'org_purges'], outbox: false })),
    );
    ownBus?.start();
    const implementation = bindService(
      AnalyticsServiceService,
      withOrgContext(AnalyticsServiceService, analyticsAccessTable, analyticsHandlers(), { verifier, memberships: membershipCache, em: db.em }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.ANALYTICS_PORT,
      log,
      database: db,
      services: [{ name: ANALYTICS_SERVICE_NAME, definition: AnalyticsServiceService, implementation }],
    });
    rollupJob.start();
    retention.start();
    log.info({ address: grpc.address, bus: events.mode }, 'analytics service listening');
    return {
      grpc,
      db,
      rollup,
      subscription: counter,
      async close() {
        await grpc.shutdown();
        // Drain: the batch in hand is counted and acknowledged before the database goes.
        for (const running of subscriptions) await running.stop();
        await ownBus?.close();
        await rollupJob.stop();
        await retention.stop();
        identityClient.close();
        orgClient.close();
        unobserveCaches();
    await db.close();
      },
    };
  } catch (err) {
    await retention.stop();
    for (const running of subscriptions) await running.stop();
    await ownBus?.close();
    identityClient.close();
    orgClient.close();
    unobserveCaches();
    await db.close();
    throw err;
  }
}
