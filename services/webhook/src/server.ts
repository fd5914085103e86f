import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { WebhookServiceService } from '@taskmesh/gen/taskmesh/webhook/v1/webhook_service.js';
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
import { loadKeyRing } from '@taskmesh/runtime/key-encryption';
import { createMailer, type Mailer } from '@taskmesh/runtime/mail';
import { membershipEvictionSubscription } from '@taskmesh/runtime/membership-eviction';
import { cachedMembershipLookup, membershipLookupViaOrgService } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import type { WebhookConfig } from './config.ts';
import { DeliveryAttemptRecord, DeliveryRecord, OrgOwnerRecord, WebhookRecord } from './db/entities.ts';
import { webhookMigrations } from './db/migrations/index.ts';
import { deliveryRetentionPurge } from './db/delivery-retention.ts';
import { expiredSecretErasure } from './db/secret-erasure.ts';
import { DeliveryWorker } from './delivery/delivery-worker.ts';
import { AllowedHosts } from './domain/destination-guard.ts';
import { subscribableEventTypes } from './events/event-json.ts';
import { webhookFanOutSubscription } from './events/webhook-fan-out.ts';
import { webhookAccessTable } from './handlers/access-table.ts';
import { webhookHandlers } from './handlers/webhook-handlers.ts';
import { Webhooks } from './webhooks.ts';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';

export const WEBHOOK_SERVICE_NAME = 'taskmesh.webhook.v1.WebhookService';

export interface WebhookDeps {
  config: WebhookConfig;
  log: Logger;
  /** The process's event bus (embedded: the shared one, started by the launcher); absent: its own. */
  bus?: EventBus;
  /** Tests capture mail here; default SMTP_URL or .eml files under the data dir. */
  mailer?: Mailer;
  /** Embedded mode keeps the KEK in the data dir when TASKMESH_KEK is unset; standalone requires it. */
  kekFromDataDir?: boolean;
}

export interface RunningWebhook {
  grpc: RunningGrpcServer;
  db: Database;
  worker: DeliveryWorker;
  retention: BookkeepingRetention;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), subscribes the fan-out consumer, starts the delivery worker and the
 * outbox relay, and serves WebhookService + health.
 */
export async function startWebhook({ config, log, bus: sharedBus, mailer: givenMailer, kekFromDataDir = true }: WebhookDeps): Promise<RunningWebhook> {
  const keyRing = loadKeyRing(config, { dataDirFallback: kekFromDataDir });
  const allowedHosts = new AllowedHosts(config.WEBHOOK_ALLOWED_HOSTS);
  const db = await openDatabase({
    service: 'webhook',
    entities: [TenantScoped, WebhookRecord, DeliveryRecord, DeliveryAttemptRecord, OrgOwnerRecord, OutboxEvent],
    migrations: webhookMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const mailer = givenMailer ?? createMailer({ smtpUrl: config.SMTP_URL, dataDir: config.TASKMESH_DATA_DIR });
  const bus = sharedBus ?? createEventBus(config, log, 'webhook');
  const subscriptions: RunningSubscription[] = [];
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  const worker = new DeliveryWorker({
    em: db.em,
    keyRing,
    allowedHosts,
    retryScheduleSeconds: config.WEBHOOK_RETRY_SCHEDULE,
    disableAfterSeconds: config.WEBHOOK_DISABLE_AFTER_SECONDS,
    timeoutMs: config.WEBHOOK_TIMEOUT_MS,
    pollMs: config.WEBHOOK_POLL_MS ?? db.timeouts.backgroundPollMs ?? 1_000,
    mailer,
    addressesOf: async (users) => {
      if (users.length === 0) return [];
      const res = await callUnary(identityClient, identityClient.batchGetUsers, { names: [...users] }, { timeoutMs: config.UPSTREAM_TIMEOUT_MS });
      return res.users.map((u) => u.email).filter(Boolean);
    },
    log,
  });
  const closeAll = async () => {
    await worker.stop();
    await retention?.stop();
    await relay?.stop();
    for (const s of subscriptions) await s.stop().catch(() => undefined);
    if (!sharedBus) await bus.close().catch(() => undefined);
    identityClient.close();
    orgClient.close();
    if (!givenMailer) mailer.close();
    unobserveCaches();
    await db.close();
  };
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('webhook', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }) });
    subscriptions.push(await bus.subscribe(endedSessionsSubscription(endedSessions, 'webhook')));
    const verifier = createAccessTokenVerifier({
      caches: callers.accessTokens,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: jwksFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }),
      endedSessions,
      apiTokens: cachedApiTokens(apiTokensViaOrgService(orgClient), callers.apiTokens),
    });
    const membershipCache = cachedMembershipLookup(membershipLookupViaOrgService(orgClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }), callers.memberships);
    subscriptions.push(await bus.subscribe(membershipEvictionSubscription(membershipCache, 'webhook')));
    const eventTypes = subscribableEventTypes();
    subscriptions.push(await bus.subscribe(webhookFanOutSubscription(db.em, eventTypes, () => worker.wake())));
    subscriptions.push(
      await bus.subscribe(
        organizationPurgeSubscription(db.em, {
          consumer: 'webhook-purge',
          tables: ['delivery_due', 'delivery_attempts', 'deliveries', 'org_owners', 'webhooks'],
          outbox: true,
        }),
      ),
    );
    relay = startOutboxRelay({ em: db.em, service: 'webhook', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    const startedRetention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS, more: [deliveryRetentionPurge(db.em, config.WEBHOOK_DELIVERY_RETENTION_DAYS), expiredSecretErasure(db.em)] }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    retention = startedRetention;
    if (!sharedBus) bus.start();
    worker.start();

    const webhooks = new Webhooks({ keyRing, allowedHosts, knownEventTypes: eventTypes, worker, rotationGraceHours: config.WEBHOOK_SECRET_ROTATION_GRACE_HOURS });
    const implementation = bindService(
      WebhookServiceService,
      withOrgContext(WebhookServiceService, webhookAccessTable, webhookHandlers(webhooks), { verifier, memberships: membershipCache, em: db.em }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.WEBHOOK_PORT,
      log,
      database: db,
      services: [{ name: WEBHOOK_SERVICE_NAME, definition: WebhookServiceService, implementation }],
    });
    log.info({ address: grpc.address, events: bus.mode }, 'webhook service listening');
    return {
      grpc,
      db,
      worker,
      retention: startedRetention,
      async close() {
        await grpc.shutdown();
        await closeAll();
      },
    };
  } catch (err) {
    await closeAll().catch(() => undefined);
    throw err;
  }
}
