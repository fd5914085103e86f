import type { Logger } from 'pino';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { startBookkeepingRetention, type BookkeepingRetention } from '@taskmesh/runtime/bookkeeping-retention';
import { createEventBus } from '@taskmesh/runtime/events/create-event-bus';
import type { EventBus, RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { startGrpcServer, type RunningGrpcServer } from '@taskmesh/runtime/grpc-server';
import { createMailer, type Mailer } from '@taskmesh/runtime/mail';
import type { NotifyConfig } from './config.ts';
import { notifyMigrations } from './db/migrations/index.ts';
import { notifySubscription } from './events/event-handlers.ts';
import { startMailDispatcher, type MailDispatcher } from './events/mail-dispatcher.ts';
import { MailQueue } from './db/mail-queue.ts';
import { mailRetentionPurge } from './db/mail-retention.ts';
import { TaskDigest } from './db/task-digest.ts';
import { identityUserDirectory, type UserDirectory } from './user-directory.ts';
import { sql } from '@taskmesh/runtime/tenant-sql';
import { organizationPurgeSubscription } from '@taskmesh/runtime/organization-purge';

export interface NotifyDeps {
  config: NotifyConfig;
  log: Logger;
  /**
   * The event bus to consume from. The embedded launcher passes its shared in-process bus; when absent,
   * one is created from the config (JetStream with NATS_URL).
   */
  bus?: EventBus;
  /** Overrides the configured mail adapter. */
  mailer?: Mailer;
  /** Overrides the identity-backed directory. */
  users?: UserDirectory;
  /** The digest's clock (tests move it). */
  clock?: () => Date;
  /** How often the digest schedule is checked. Default 60 s. */
  digestCheckIntervalMs?: number;
}

export interface RunningNotify {
  grpc: RunningGrpcServer;
  db: Database;
  bus: EventBus;
  subscription: RunningSubscription;
  dispatcher: MailDispatcher;
  digest: TaskDigest;
  retention: BookkeepingRetention;
  close(): Promise<void>;
}

/**
 * Starts notify: its database (schema notify), the durable consumer `notify`, the mail dispatcher, the
 * daily digest schedule and a gRPC server with health only (notify has no API of its own).
 */
export async function startNotify(deps: NotifyDeps): Promise<RunningNotify> {
  const { config, log } = deps;
  const clock = deps.clock ?? (() => new Date());
  const db = await openDatabase({
    service: 'notify',
    entities: [],
    migrations: notifyMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log,
  });
  const closers: (() => Promise<void> | void)[] = [() => db.close()];
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const closeOne of closers.reverse()) await closeOne();
    })());
  try {
    const mailer = deps.mailer ?? createMailer({ smtpUrl: config.SMTP_URL, dataDir: config.TASKMESH_DATA_DIR, from: config.MAIL_FROM });
    closers.push(() => mailer.close());
    const users = deps.users ?? identityUserDirectory(config.IDENTITY_ADDR);
    closers.push(() => users.close());

    let bus = deps.bus;
    if (!bus) {
      bus = createEventBus(config, log, 'notify');
      if (bus.mode === 'in-process') {
        log.warn('NATS_URL is unset and no shared bus was given: notify only sees events relayed in this process');
      }
      const owned = bus;
      owned.start();
      closers.push(() => owned.close());
    }

    const dispatcher = startMailDispatcher({
      queue: new MailQueue(db.em),
      mailer,
      users,
      appBaseUrl: config.APP_BASE_URL,
      log,
      pollIntervalMs: db.timeouts.backgroundPollMs,
    });
    closers.push(() => dispatcher.stop());
    const subscription = await bus.subscribe(notifySubscription(db.em, () => dispatcher.nudge()));
    closers.push(() => subscription.stop());
    // Notify's rows name the org in resource names: its org names, task snapshots and the mails about them.
    const purgeEvents = await bus.subscribe(
      organizationPurgeSubscription(db.em, {
        consumer: 'notify-purge',
        tables: [],
        outbox: false,
        more: (_orgId, orgName) => [
          sql`delete from organization_name where name = ${orgName}`,
          sql`delete from task_snapshot where organization = ${orgName}`,
          sql`delete from outgoing_mail where position(${orgName} in data::text) > 0`,
        ],
      }),
    );
    closers.push(() => purgeEvents.stop());

    const digest = new TaskDigest(db.em, { hourUtc: config.DIGEST_HOUR_UTC, log });
    const checkSchedule = async () => {
      if ((await digest.runDue(clock())) !== undefined) dispatcher.nudge();
    };
    const timer = setInterval(() => {
      checkSchedule().catch((err: unknown) => log.warn({ err }, 'digest schedule check failed'));
    }, deps.digestCheckIntervalMs ?? 60_000);
    closers.push(() => clearInterval(timer));

    const retention = startBookkeepingRetention(
      db.em,
      { processedEventsRetentionDays: config.PROCESSED_EVENTS_RETENTION_DAYS, more: [mailRetentionPurge(db.em, config.MAIL_RETENTION_DAYS)] },
      { intervalSeconds: config.RETENTION_INTERVAL_SECONDS, log },
    );
    closers.push(() => retention.stop());

    const grpc = await startGrpcServer({ host: config.GRPC_HOST, port: config.NOTIFY_PORT, log, services: [], database: db });
    closers.push(() => grpc.shutdown());
    log.info({ address: grpc.address, bus: bus.mode }, 'notify service running');
    return { grpc, db, bus, subscription, dispatcher, digest, retention, close };
  } catch (err) {
    await close();
    throw err;
  }
}
