import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { AdminServiceService } from '@taskmesh/gen/taskmesh/admin/v1/admin_service.js';
import { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { callerCaches } from '@taskmesh/runtime/caller-caches';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { cachedApiTokens } from '@taskmesh/runtime/api-token-auth';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startBookkeepingRetention, type BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { startOutboxRelay, type OutboxRelay } from '@taskmesh/runtime/events/relay';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { EndedSessions, endedSessionsFromIdentity, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { jwksFromIdentity } from '@taskmesh/runtime/identity-jwks';
import { createMailer, type Mailer } from '@taskmesh/runtime/mail';
import { cachedMembershipLookup, membershipLookup, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import type { OrgConfig } from './config.ts';
import { ApiTokenRecord, InvitationRecord, MembershipRecord, OrganizationRecord, PlatformAuditRecord } from './db/entities.ts';
import { orgMigrations } from './db/migrations/index.ts';
import { ApiTokens } from './api-tokens.ts';
import { orgAccessTable } from './handlers/access-table.ts';
import { orgHandlers } from './handlers/org-handlers.ts';
import { Invitations } from './db/invitations.ts';
import { Members } from './db/members.ts';
import { membershipOf } from './db/membership-roles.ts';
import { PlatformAdministration } from './db/platform-administration.ts';
import { AdminDeadLetters } from './admin-dead-letters.ts';
import { adminHandlers } from './handlers/admin-handlers.ts';
import { PlatformAdminDirectory, platformAdminCache } from './platform-admin-directory.ts';
import { TaskCounts } from './task-counts.ts';
import { OrganizationPurge } from './db/organization-purge.ts';
import { Organizations } from './db/organizations.ts';
import { UserErasure } from './db/user-erasure.ts';
import { userErasedSubscription } from './events/user-erased-consumer.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';
import { InvitationMail } from './events/invitation-mail.ts';
import { IdentityDirectory } from './identity-directory.ts';

export const ORG_SERVICE_NAME = 'taskmesh.org.v1.OrgService';
/** The platform administration, hosted here beside OrgService (the edge routes it to ORG_ADDR too). */
export const ADMIN_SERVICE_NAME = 'taskmesh.admin.v1.AdminService';

export interface OrgDeps {
  config: OrgConfig;
  log: Logger;
  /** Overrides the configured mail adapter (tests capture mail with it). */
  mailer?: Mailer;
  /**
   * The process's event bus (the embedded launcher shares one and starts it once everyone subscribed).
   * When absent, the service makes its own from NATS_URL (in-process when unset) and starts it.
   */
  bus?: EventBus;
}

export interface RunningOrg {
  grpc: RunningGrpcServer;
  db: Database;
  organizations: Organizations;
  members: Members;
  invitations: Invitations;
  /** The chain's membership cache; the events consumer evicts from it on membership events. */
  membershipCache: MembershipCache;
  administration: PlatformAdministration;
  purge: OrganizationPurge;
  relay: OutboxRelay;
  close(): Promise<void>;
}

/** Opens the database (migrating it) and serves OrgService + health; identity must be reachable at IDENTITY_ADDR. */
export async function startOrg({ config, log, mailer, bus: sharedBus }: OrgDeps): Promise<RunningOrg> {
  const db = await openDatabase({
    service: 'org',
    entities: [TenantScoped, OrganizationRecord, MembershipRecord, InvitationRecord, ApiTokenRecord, PlatformAuditRecord, OutboxEvent],
    migrations: orgMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const taskClient = config.TASK_ADDR ? new TaskServiceClient(config.TASK_ADDR, credentials.createInsecure()) : undefined;
  const deadLetters = new AdminDeadLetters({ natsUrl: config.NATS_URL, stream: config.EVENTS_STREAM, subjectPrefix: config.EVENTS_SUBJECT_PREFIX });
  const mail = mailer ?? createMailer({ smtpUrl: config.SMTP_URL, dataDir: config.TASKMESH_DATA_DIR });
  const bus = sharedBus ?? createEventBus(config, log, 'org');
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  let sessionEvents: RunningSubscription | undefined;
  let erasureEvents: RunningSubscription | undefined;
  let purgeEvents: RunningSubscription | undefined;
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const adminAnswers = platformAdminCache({ ttlMs: config.PLATFORM_ADMIN_CACHE_TTL_MS, maxEntries: config.PLATFORM_ADMIN_CACHE_MAX_ENTRIES });
  const unobserveCaches = observeCaches('org', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships, adminAnswers]);
  try {
    // Tokens of ended sessions are refused: the list from identity, kept current by its events.
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient) });
    sessionEvents = await bus.subscribe(endedSessionsSubscription(endedSessions, 'org'));
    const apiTokens = new ApiTokens(db.em);
    const verifier = createAccessTokenVerifier({
      caches: callers.accessTokens,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient),
      endedSessions,
      apiTokens: cachedApiTokens((token) => apiTokens.grantOf(token), callers.apiTokens),
    });
    // The chain's membership cache; every use case that changes a membership evicts from it.
    const membershipCache = cachedMembershipLookup(
      membershipLookup((orgId, userId) => membershipOf(db.em, orgId, userId)),
      callers.memberships,
    );
    const identity = new IdentityDirectory(identityClient);
    const organizations = new Organizations(db.em, membershipCache);
    const members = new Members(identity, membershipCache);
    const invitationMail = new InvitationMail(
      mail,
      { invitationTtlSeconds: config.INVITATION_TTL_SECONDS, appBaseUrl: config.APP_BASE_URL },
      log,
    );
    const invitations = new Invitations(db.em, identity, invitationMail, membershipCache, {
      invitationTtlSeconds: config.INVITATION_TTL_SECONDS,
    });
    const userErasure = new UserErasure(db.em, membershipCache, log);
    erasureEvents = await bus.subscribe(userErasedSubscription(userErasure));
    // The org's last event, OrganizationPurged, leaves the outbox once it has been published.
    purgeEvents = await bus.subscribe(organizationPurgeSubscription(db.em, { consumer: 'org-purge', tables: [], outbox: true }));
    const implementation = bindService(
      OrgServiceService,
      withOrgContext(OrgServiceService, orgAccessTable, orgHandlers({ organizations, members, invitations, membershipOf: (orgId, userId) => membershipOf(db.em, orgId, userId), apiTokens, userErasure }), {
        verifier,
        memberships: membershipCache,
        em: db.em,
      }),
      log,
    );
    const administration = new PlatformAdministration(db.em, membershipCache);
    const adminImplementation = bindService(
      AdminServiceService,
      adminHandlers({
        verifier,
        admins: new PlatformAdminDirectory(identityClient, adminAnswers, { timeoutMs: 5_000 }),
        administration,
        taskCounts: new TaskCounts(taskClient, 10_000),
        deadLetters,
      }),
      log,
    );
    const purge = new OrganizationPurge(
      db.em,
      { retentionDays: config.ORG_RETENTION_DAYS, intervalSeconds: config.ORG_PURGE_INTERVAL_SECONDS },
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.ORG_PORT,
      log,
      database: db,
      services: [
        { name: ORG_SERVICE_NAME, definition: OrgServiceService, implementation },
        { name: ADMIN_SERVICE_NAME, definition: AdminServiceService, implementation: adminImplementation },
      ],
    });
    purge.start();
    relay = startOutboxRelay({ em: db.em, service: 'org', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS, processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();
    const startedRelay = relay;
    const startedRetention = retention;
    log.info({ address: grpc.address, events: bus.mode }, 'org service listening');
    return {
      grpc,
      db,
      organizations,
      members,
      invitations,
      membershipCache,
      administration,
      purge,
      relay: startedRelay,
      async close() {
        await grpc.shutdown();
        await purge.stop();
        await startedRetention.stop();
        await startedRelay.stop();
        await sessionEvents?.stop();
        await erasureEvents?.stop();
        await purgeEvents?.stop();
        if (!sharedBus) await bus.close();
        await deadLetters.close();
        identityClient.close();
        taskClient?.close();
        mail.close();
        unobserveCaches();
    await db.close();
      },
    };
  } catch (err) {
    await retention?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await sessionEvents?.stop().catch(() => undefined);
    await erasureEvents?.stop().catch(() => undefined);
    await purgeEvents?.stop().catch(() => undefined);
    if (!sharedBus) await bus.close().catch(() => undefined);
    identityClient.close();
    taskClient?.close();
    unobserveCaches();
    await db.close();
    throw err;
  }
}
