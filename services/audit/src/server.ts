import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AuditServiceService } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { callerCaches } from '@taskmesh/runtime/caller-caches';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { apiTokensViaOrgService, cachedApiTokens } from '@taskmesh/runtime/api-token-auth';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { EndedSessions, endedSessionsFromIdentity, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import { AuditRetention } from './db/audit-retention.ts';
import type { AuditConfig } from './config.ts';
import { AuditLog } from './db/audit-log.ts';
import { AuditEventRecord } from './db/entities.ts';
import { auditMigrations } from './db/migrations/index.ts';
import { auditErasureSubscription, auditSubscription } from './events/audit-consumer.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';
import { membershipEvictionSubscription } from '@taskmesh/runtime/membership-eviction';
import { auditAccessTable } from './handlers/access-table.ts';
import { auditHandlers } from './handlers/audit-handlers.ts';

export const AUDIT_SERVICE_NAME = 'taskmesh.audit.v1.AuditService';

export interface AuditDeps {
  config: AuditConfig;
  log: Logger;
  /**
   * The event bus shared by the services of this process (the embedded launcher's in-process bus, which it
   * starts once every consumer has subscribed). Absent: the service creates its own from NATS_URL, starts it
   * and closes it on close().
   */
  bus?: EventBus;
}

export interface RunningAudit {
  grpc: RunningGrpcServer;
  db: Database;
  auditLog: AuditLog;
  retention: AuditRetention;
  /** The shared durable consumer that records events. */
  subscription: RunningSubscription;
  membershipCache: MembershipCache;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), subscribes the audit consumer to the bus, starts the retention purge and
 * serves AuditService + health. Identity (IDENTITY_ADDR) and org (ORG_ADDR) are needed only by calls.
 */
export async function startAudit({ config, log, bus }: AuditDeps): Promise<RunningAudit> {
  const db = await openDatabase({
    service: 'audit',
    entities: [TenantScoped, AuditEventRecord],
    migrations: auditMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const ownBus = bus ? undefined : createEventBus(config, log, 'audit');
  const events = bus ?? ownBus!;
  const subscriptions: RunningSubscription[] = [];
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('audit', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    // Tokens of ended sessions are refused: the list from identity, kept current by its events.
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient) });
    subscriptions.push(await events.subscribe(endedSessionsSubscription(endedSessions, 'audit')));
    const verifier = createAccessTokenVerifier({
      caches: callers.accessTokens,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient),
      endedSessions,
      apiTokens: cachedApiTokens(apiTokensViaOrgService(orgClient), callers.apiTokens),
    });
    const membershipCache = cachedMembershipLookup(membershipLookupViaOrgService(orgClient), callers.memberships);
    const auditLog = new AuditLog(db.em);
    const recorder = await events.subscribe(auditSubscription(auditLog, log));
    subscriptions.push(recorder);
    subscriptions.push(await events.subscribe(auditErasureSubscription(auditLog)));
    // A purged organization's log goes with the rest of it.
    subscriptions.push(await events.subscribe(organizationPurgeSubscription(db.em, { consumer: 'audit-purge', tables: ['audit_events'], outbox: false })));
    subscriptions.push(await events.subscribe(membershipEvictionSubscription(membershipCache, 'audit')));
    ownBus?.start();
    const retention = new AuditRetention(
      auditLog,
      { retentionDays: config.AUDIT_RETENTION_DAYS, intervalSeconds: config.AUDIT_PURGE_INTERVAL_SECONDS },
      log,
    );
    const implementation = bindService(
      AuditServiceService,
      withOrgContext(AuditServiceService, auditAccessTable, auditHandlers(auditLog), {
        verifier,
        memberships: membershipCache,
        em: db.em,
      }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.AUDIT_PORT,
      log,
      database: db,
      services: [{ name: AUDIT_SERVICE_NAME, definition: AuditServiceService, implementation }],
    });
    retention.start();
    log.info({ address: grpc.address, bus: events.mode }, 'audit service listening');
    return {
      grpc,
      db,
      auditLog,
      retention,
      subscription: recorder,
      membershipCache,
      async close() {
        await grpc.shutdown();
        // Drain: the event in hand is recorded and acknowledged before the database goes.
        for (const running of subscriptions) await running.stop();
        await ownBus?.close();
        await retention.stop();
        identityClient.close();
        orgClient.close();
        unobserveCaches();
    await db.close();
      },
    };
  } catch (err) {
    for (const running of subscriptions) await running.stop();
    await ownBus?.close();
    identityClient.close();
    orgClient.close();
    unobserveCaches();
    await db.close();
    throw err;
  }
}
