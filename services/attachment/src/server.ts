import { credentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { AttachmentServiceService } from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { TaskServiceClient } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { AuditServiceClient } from '@taskmesh/gen/taskmesh/audit/v1/audit_service.js';
import { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { readDescriptorSet } from '@taskmesh/runtime/request-strings';
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
import { membershipEvictionSubscription } from '@taskmesh/runtime/membership-eviction';
import { cachedMembershipLookup, membershipLookupViaOrgService, type MembershipCache } from '@taskmesh/runtime/membership-lookup';
import { withOrgContext } from '@taskmesh/runtime/org-context';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import { TenantScoped } from '@taskmesh/runtime/tenancy';
import { Attachments } from './attachments.ts';
import type { AttachmentConfig } from './config.ts';
import { AttachmentRecord, ExportOperationRecord } from './db/entities.ts';
import { ExportOperations } from './db/export-operations.ts';
import { ExportWorker, type ExportWorkerOptions } from './export/export-worker.ts';
import { writeOrgArchive } from './export/org-archive.ts';
import { OrgExports } from './org-exports.ts';
import { attachmentMigrations } from './db/migrations/index.ts';
import { attachmentSubscription } from './events/attachment-consumers.ts';
import { attachmentAccessTable } from './handlers/access-table.ts';
import { attachmentHandlers } from './handlers/attachment-handlers.ts';
import { OrgAttachmentPurge } from './org-attachment-purge.ts';
import { PendingAttachmentReaper } from './pending-attachment-reaper.ts';
import { embeddedBlobDirectory, startEmbeddedObjectServer, type EmbeddedObjectServer } from './storage/embedded-object-server.ts';
import { ObjectDeletions } from './storage/object-deletions.ts';
import { ObjectStore } from './storage/object-store.ts';
import { taskLookupViaTaskService } from './task-directory.ts';

export const ATTACHMENT_SERVICE_NAME = 'taskmesh.attachment.v1.AttachmentService';

export interface AttachmentDeps {
  config: AttachmentConfig;
  log: Logger;
  /** The process's event bus (embedded launcher); otherwise one from NATS_URL, started here. */
  bus?: EventBus;
  /** Awaited by the export worker at each page and object boundary (tests hold an export there to cancel it). */
  onExportCheckpoint?: ExportWorkerOptions['onCheckpoint'];
}

export interface RunningAttachment {
  grpc: RunningGrpcServer;
  db: Database;
  store: ObjectStore;
  /** The embedded S3-compatible server, when S3_ENDPOINT is unset. */
  objectServer: EmbeddedObjectServer | undefined;
  deletions: ObjectDeletions;
  orgPurge: OrgAttachmentPurge;
  /** Removes attachments never completed within ATTACHMENT_PENDING_TTL_HOURS, with their objects. */
  reaper: PendingAttachmentReaper;
  exportWorker: ExportWorker;
  membershipCache: MembershipCache;
  close(): Promise<void>;
}

/**
 * Opens the database (migrating it), reaches the object store (S3_ENDPOINT, else an embedded S3-compatible
 * server under $TASKMESH_DATA_DIR/blobs), starts the outbox relay, the consumer of task and org deletions,
 * the object-deletion worker, the org purge and the pending-attachment reaper, and serves AttachmentService + health.
 */
export async function startAttachment({ config, log, bus: sharedBus, onExportCheckpoint }: AttachmentDeps): Promise<RunningAttachment> {
  const objectServer = config.S3_ENDPOINT
    ? undefined
    : await startEmbeddedObjectServer({
        directory: embeddedBlobDirectory(config.TASKMESH_DATA_DIR),
        host: config.S3_EMBEDDED_HOST,
        port: config.S3_EMBEDDED_PORT,
        bucket: config.S3_BUCKET,
        ...(config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY
          ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY }
          : {}),
      });
  const store = new ObjectStore({
    endpoint: config.S3_ENDPOINT ?? objectServer!.endpoint,
    publicEndpoint: config.S3_PUBLIC_ENDPOINT,
    bucket: config.S3_BUCKET,
    region: config.S3_REGION,
    accessKeyId: objectServer?.accessKeyId ?? config.S3_ACCESS_KEY_ID!,
    secretAccessKey: objectServer?.secretAccessKey ?? config.S3_SECRET_ACCESS_KEY!,
    forcePathStyle: objectServer ? true : config.S3_FORCE_PATH_STYLE,
  });
  let db: Database;
  try {
    db = await openDatabase({
      service: 'attachment',
      entities: [TenantScoped, AttachmentRecord, ExportOperationRecord, OutboxEvent],
      migrations: attachmentMigrations,
      databaseUrl: config.DATABASE_URL,
      timeouts: databaseTimeouts(config),
      log,
    });
  } catch (err) {
    store.close();
    await objectServer?.close();
    throw err;
  }
  const identityClient = new IdentityServiceClient(config.IDENTITY_ADDR, credentials.createInsecure());
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  const taskClient = new TaskServiceClient(config.TASK_ADDR, credentials.createInsecure());
  const boardClient = new BoardServiceClient(config.BOARD_ADDR, credentials.createInsecure());
  const auditClient = new AuditServiceClient(config.AUDIT_ADDR, credentials.createInsecure());
  const closeClients = () => {
    identityClient.close();
    orgClient.close();
    taskClient.close();
    boardClient.close();
    auditClient.close();
  };
  const bus = sharedBus ?? createEventBus(config, log, 'attachment');
  const deletions = new ObjectDeletions(db.em, store, log, db.timeouts.backgroundPollMs);
  const orgPurge = new OrgAttachmentPurge(db.em, deletions, { intervalSeconds: config.ORG_PURGE_INTERVAL_SECONDS }, log);
  const reaper = new PendingAttachmentReaper(
    db.em,
    deletions,
    { ttlHours: config.ATTACHMENT_PENDING_TTL_HOURS, intervalSeconds: config.ATTACHMENT_REAP_INTERVAL_SECONDS },
    log,
  );
  const exportOperations = new ExportOperations(db.em, config.EXPORT_ARCHIVE_RETENTION_HOURS);
  const archiveDeps = {
    em: db.em,
    store,
    registry: readDescriptorSet(),
    clients: { org: orgClient, board: boardClient, task: taskClient, audit: auditClient },
    streamTimeoutMs: config.EXPORT_STREAM_TIMEOUT_SECONDS * 1000,
  };
  const exportWorker = new ExportWorker(
    exportOperations,
    (job, operation, signal, checkpoint) => writeOrgArchive(archiveDeps, job, operation, signal, checkpoint),
    log,
    {
      drainDeletions: () => deletions.drain(),
      ...(onExportCheckpoint ? { onCheckpoint: onExportCheckpoint } : {}),
      ...(db.timeouts.backgroundPollMs ? { intervalMs: db.timeouts.backgroundPollMs } : {}),
    },
  );
  const subscriptions: RunningSubscription[] = [];
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  const stopAll = async () => {
    await retention?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    for (const s of subscriptions) await s.stop().catch(() => undefined);
    await orgPurge.stop().catch(() => undefined);
    await reaper.stop().catch(() => undefined);
    await exportWorker.stop().catch(() => undefined);
    await deletions.stop();
    if (!sharedBus) await bus.close().catch(() => undefined);
    closeClients();
    store.close();
    unobserveCaches();
    await db.close();
    await objectServer?.close();
  };
  // What the service remembers about its callers (budgets from the configuration), reported as its caches.
  const callers = callerCaches(config);
  const unobserveCaches = observeCaches('attachment', [callers.accessTokens.jwks, callers.accessTokens.verified, callers.apiTokens, callers.memberships]);
  try {
    const endedSessions = new EndedSessions({ load: endedSessionsFromIdentity(identityClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS }) });
    subscriptions.push(await bus.subscribe(endedSessionsSubscription(endedSessions, 'attachment')));
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
    subscriptions.push(await bus.subscribe(membershipEvictionSubscription(membershipCache, 'attachment')));
    subscriptions.push(await bus.subscribe(attachmentSubscription(db.em, deletions, { orgRetentionDays: config.ORG_RETENTION_DAYS })));
    relay = startOutboxRelay({ em: db.em, service: 'attachment', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS, processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();
    deletions.start();
    orgPurge.start();
    reaper.start();
    exportWorker.start();

    const attachments = new Attachments(store, deletions, {
      maxBytes: config.ATTACHMENT_MAX_BYTES,
      maxPerTask: config.ATTACHMENT_MAX_PER_TASK,
      pendingTtlSeconds: config.ATTACHMENT_PENDING_TTL_HOURS * 3600,
    });
    const lookupTask = taskLookupViaTaskService(taskClient, { timeoutMs: config.UPSTREAM_TIMEOUT_MS });
    const implementation = bindService(
      AttachmentServiceService,
      withOrgContext(AttachmentServiceService, attachmentAccessTable, attachmentHandlers(attachments, lookupTask, new OrgExports(exportOperations, exportWorker, store, deletions)), {
        verifier,
        memberships: membershipCache,
        em: db.em,
      }),
      log,
    );
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.ATTACHMENT_PORT,
      log,
      database: db,
      services: [{ name: ATTACHMENT_SERVICE_NAME, definition: AttachmentServiceService, implementation }],
    });
    log.info({ address: grpc.address, events: bus.mode, objectStore: objectServer ? 'embedded' : 'S3_ENDPOINT' }, 'attachment service listening');
    return {
      grpc,
      db,
      store,
      objectServer,
      deletions,
      orgPurge,
      reaper,
      exportWorker,
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
