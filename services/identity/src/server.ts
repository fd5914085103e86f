import type { Logger } from 'pino';
import { credentials } from '@grpc/grpc-js';
import { IdentityServiceService } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { accessTokenCaches, createAccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { observeCaches } from '@taskmesh/runtime/cache-metrics';
import { EndedSessions, endedSessionsSubscription } from '@taskmesh/runtime/ended-sessions';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startBookkeepingRetention, type BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { startOutboxRelay, type OutboxRelay } from '@taskmesh/runtime/events/relay';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { openAppRolePool } from '@taskmesh/runtime/tenant-sql';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { bindService, startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { createMailer, type Mailer } from '@taskmesh/runtime/mail';
import { OutboxEvent } from '@taskmesh/runtime/outbox';
import type { IdentityConfig } from './config.ts';
import {
  KnownDeviceRecord,
  PasswordResetRecord,
  RefreshTokenRecord,
  SessionRecord,
  PlatformAdminRecord,
  SigningKeyRecord,
  UserRecord,
} from './db/entities.ts';
import { identityMigrations } from './db/migrations/index.ts';
import { identityHandlers } from './handlers/identity-handlers.ts';
import { PasswordResets } from './db/password-resets.ts';
import { Sessions } from './db/sessions.ts';
import { Users } from './db/users.ts';
import { PlatformAdmins } from './db/platform-admins.ts';
import { Passwords } from './domain/passwords.ts';
import { PasswordResetMail } from './events/password-reset-mail.ts';
import { AbuseLimits } from './db/abuse-limits.ts';
import { loadKeyRing, type KeyRing } from './domain/key-encryption.ts';
import { sealSigningKeys } from './db/signing-key-sealing.ts';
import { SigningKeys } from './db/signing-keys.ts';
import { OrgDirectory } from './org-directory.ts';

export const IDENTITY_SERVICE_NAME = 'taskmesh.identity.v1.IdentityService';

export interface IdentityDeps {
  config: IdentityConfig;
  log: Logger;
  /** Overrides the configured mail adapter (tests capture mail with it). */
  mailer?: Mailer;
  /**
   * The process's event bus (the embedded launcher shares one and starts it once everyone subscribed).
   * When absent, the service makes its own from NATS_URL (in-process when unset) and starts it.
   */
  bus?: EventBus;
  /**
   * Without TASKMESH_KEK, the embedded default keeps a KEK in the data dir; a standalone service (this set)
   * refuses to start instead.
   */
  requireKekFromEnvironment?: boolean;
}

export interface RunningIdentity {
  grpc: RunningGrpcServer;
  db: Database;
  users: Users;
  sessions: Sessions;
  passwordResets: PasswordResets;
  keys: SigningKeys;
  /** The key-encryption keys the signing keys are sealed with. */
  keyRing: KeyRing;
  relay: OutboxRelay;
  close(): Promise<void>;
}

/** Opens the database (migrating it), ensures a signing key, and serves IdentityService + health. */
export async function startIdentity({ config, log, mailer, bus: sharedBus, requireKekFromEnvironment }: IdentityDeps): Promise<RunningIdentity> {
  // Before the database: a missing or malformed KEK stops start-up at once.
  const keyRing = loadKeyRing(config, { dataDirFallback: !requireKekFromEnvironment });
  const db = await openDatabase({
    service: 'identity',
    entities: [UserRecord, SessionRecord, RefreshTokenRecord, PasswordResetRecord, SigningKeyRecord, KnownDeviceRecord, PlatformAdminRecord, OutboxEvent],
    migrations: identityMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const bus = sharedBus ?? createEventBus(config, log, 'identity');
  // Only account erasure calls the org service (is the user the last OWNER somewhere?).
  const orgClient = new OrgServiceClient(config.ORG_ADDR, credentials.createInsecure());
  let relay: OutboxRelay | undefined;
  let retention: BookkeepingRetention | undefined;
  let sessionEvents: RunningSubscription | undefined;
  const keys = new SigningKeys(db.em, keyRing, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  // The key set and the tokens that verified against it (budget from the configuration), reported as identity's caches.
  const tokenCaches = accessTokenCaches({ maxEntries: config.ACCESS_TOKEN_CACHE_MAX_ENTRIES });
  const unobserveCaches = observeCaches('identity', [tokenCaches.jwks, tokenCaches.verified]);
  try {
    const sealed = await sealSigningKeys(db.em, keyRing, { resealAll: false });
    if (sealed > 0) log.info({ sealed }, 'sealed plain signing keys under the key-encryption key');
    await keys.ensureKey();
    keys.startReloading(config.SIGNING_KEY_RELOAD_SECONDS * 1000, log);
    // rate-limiter-flexible takes a pg pool: a small one of its own, as the app role, with the same limits.
    const throttlePool = openAppRolePool(db, 2);
    throttlePool.on('error', (err) => log.warn({ err }, 'abuse limits pool error'));
    const limits = new AbuseLimits(throttlePool, db.schema, {
      loginFreeFailuresPerPair: config.LOGIN_FREE_FAILURES_PER_PAIR,
      loginMaxFailuresPerAccount: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      loginMaxFailuresPerAddress: config.LOGIN_MAX_FAILURES_PER_ADDRESS,
      loginDelayBaseSeconds: config.LOGIN_DELAY_BASE_SECONDS,
      loginMaxDelaySeconds: config.LOGIN_MAX_DELAY_SECONDS,
      loginAccountMaxDelaySeconds: config.LOGIN_ACCOUNT_MAX_DELAY_SECONDS,
      loginWindowSeconds: config.LOGIN_THROTTLE_WINDOW_SECONDS,
      signUpMaxPerAddress: config.SIGNUP_MAX_PER_ADDRESS,
      resetMaxPerAddress: config.RESET_MAX_PER_ADDRESS,
      resetMaxPerEmail: config.RESET_MAX_PER_EMAIL,
    });
    // Late-bound: the list's source is the sessions table.
    let sessions: Sessions | undefined;
    const endedSessions = new EndedSessions({ load: () => sessions!.recentlyEnded() });
    sessionEvents = await bus.subscribe(endedSessionsSubscription(endedSessions, 'identity'));
    const mail = mailer ?? createMailer({ smtpUrl: config.SMTP_URL, dataDir: config.TASKMESH_DATA_DIR });
    const passwords = new Passwords({
      memoryCost: config.ARGON2_MEMORY_KIB,
      timeCost: config.ARGON2_ITERATIONS,
      parallelism: config.ARGON2_PARALLELISM,
    });
    sessions = new Sessions(
      db.em,
      keys,
      limits,
      passwords,
      endedSessions,
      {
        accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
        refreshTokenTtlDays: config.REFRESH_TOKEN_TTL_DAYS,
        deviceTokenTtlDays: config.DEVICE_TOKEN_TTL_DAYS,
      },
      log,
    );
    const users = new Users(db.em, sessions, limits, passwords);
    const resetMail = new PasswordResetMail(mail, { appBaseUrl: config.APP_BASE_URL, resetTokenTtlMinutes: config.RESET_TOKEN_TTL_MINUTES }, log);
    const passwordResets = new PasswordResets(db.em, sessions, limits, passwords, resetMail, {
      resetTokenTtlMinutes: config.RESET_TOKEN_TTL_MINUTES,
    });
    // Identity verifies its own tokens against its own key set, exactly as other services do through JWKS.
    const verifier = createAccessTokenVerifier({
      caches: tokenCaches,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      fetchJwks: () => keys.jwks(),
      minRefreshIntervalMs: 0,
      endedSessions,
    });
    const grpc = await startGrpcServer({
      host: config.GRPC_HOST,
      port: config.IDENTITY_PORT,
      log,
      database: db,
      services: [
        {
          name: IDENTITY_SERVICE_NAME,
          definition: IdentityServiceService,
          implementation: bindService(
            IdentityServiceService,
            identityHandlers(
              { users, sessions, passwordResets, orgs: new OrgDirectory(orgClient), platformAdmins: new PlatformAdmins(db.em, config.PLATFORM_ADMIN_EMAILS) },
              keys,
              verifier,
            ),
            log,
          ),
        },
      ],
    });
    relay = startOutboxRelay({ em: db.em, service: 'identity', bus, log, pollIntervalMs: db.timeouts.backgroundPollMs });
    retention = startBookkeepingRetention(db.em, { outboxRetentionHours: config.OUTBOX_RETENTION_HOURS }, { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log });
    if (!sharedBus) bus.start();
    const startedRelay = relay;
    const startedRetention = retention;
    const startedSessionEvents = sessionEvents;
    const startedSessions = sessions;
    log.info({ address: grpc.address, events: bus.mode }, 'identity service listening');
    return {
      grpc,
      db,
      users,
      sessions: startedSessions,
      passwordResets,
      keys,
      keyRing,
      relay: startedRelay,
      async close() {
        await grpc.shutdown();
        keys.stopReloading();
        await startedRetention.stop();
        await startedRelay.stop();
        await startedSessionEvents.stop();
        if (!sharedBus) await bus.close();
        mail.close();
        orgClient.close();
        await throttlePool.end();
        unobserveCaches();
    await db.close();
      },
    };
  } catch (err) {
    keys.stopReloading();
    orgClient.close();
    await retention?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await sessionEvents?.stop().catch(() => undefined);
    if (!sharedBus) await bus.close().catch(() => undefined);
    unobserveCaches();
    await db.close();
    throw err;
  }
}
