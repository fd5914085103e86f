import { createServer } from 'node:net';
import { z } from 'zod';
import { AUDIT_SERVICE_NAME, startAudit } from '@taskmesh/audit/server';
import { loadAuditConfig } from '@taskmesh/audit/config';
import { BOARD_SERVICE_NAME, startBoard } from '@taskmesh/board/server';
import { loadBoardConfig } from '@taskmesh/board/config';
import { startEdge } from '@taskmesh/edge/edge';
import { readHttpServerLimits } from '@taskmesh/edge/edge-config';
import { loadIdentityConfig } from '@taskmesh/identity/config';
import { IDENTITY_SERVICE_NAME, startIdentity } from '@taskmesh/identity/server';
import { loadNotifyConfig } from '@taskmesh/notify/config';
import { startNotify } from '@taskmesh/notify/server';
import { loadOrgConfig } from '@taskmesh/org/config';
import { ORG_SERVICE_NAME, startOrg } from '@taskmesh/org/server';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@taskmesh/runtime/embedded-postgres';
import { runAsService } from '@taskmesh/runtime/current-service';
import { createEventBus, eventBusConfigShape } from '@taskmesh/runtime/events/create-event-bus';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { shutdownGraceMs } from '@taskmesh/runtime/shutdown';
import { loadTaskConfig } from '@taskmesh/task/config';
import { TASK_SERVICE_NAME, startTask } from '@taskmesh/task/server';
import { loadWebhookConfig } from '@taskmesh/webhook/config';
import { WEBHOOK_SERVICE_NAME, startWebhook } from '@taskmesh/webhook/server';

const stackConfigSchema = z.object({
  ...commonConfigShape,
  ...eventBusConfigShape,
  EDGE_HOST: z.string().default('127.0.0.1'),
  EDGE_PORT: env.port(8080),
  EDGE_ACCESS_LOG: z.enum(['on', 'off']).default('on'),
  IDENTITY_PORT: env.port(50051),
  ORG_PORT: env.port(50052),
  BOARD_PORT: env.port(50053),
  TASK_PORT: env.port(50054),
  AUDIT_PORT: env.port(50055),
  NOTIFY_PORT: env.port(50056),
  WEBHOOK_PORT: env.port(50057),
});

/** Overrides that put every service and the edge on a free port (tests; several stacks side by side). */
export const EVERY_PORT_FREE: Record<string, string> = {
  EDGE_PORT: '0',
  IDENTITY_PORT: '0',
  ORG_PORT: '0',
  BOARD_PORT: '0',
  TASK_PORT: '0',
  AUDIT_PORT: '0',
  NOTIFY_PORT: '0',
  WEBHOOK_PORT: '0',
};

export interface RunningStack {
  /** Base URL of the REST edge. */
  url: string;
  /** gRPC address per service name. */
  services: Record<string, string>;
  /** 'in-process' (embedded default) or 'jetstream' (NATS_URL set). */
  events: 'in-process' | 'jetstream';
  /** The embedded PostgreSQL's server process, when DATABASE_URL was unset. */
  postgresPid?: number;
  close(): Promise<void>;
}

/** Port 0 means "any free port"; resolved up front because board and task need each other's address. */
async function resolvePort(host: string, port: number): Promise<number> {
  if (port !== 0) return port;
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Starts every service in this process, each on its own loopback gRPC port with its own schema in one
 * PostgreSQL (an embedded one under $TASKMESH_DATA_DIR/postgres unless DATABASE_URL is set), sharing one
 * event bus (in-process unless NATS_URL is set), then the REST edge in front of them. `overrides` replaces environment values (tests use port 0 and a
 * temporary data directory); `early.postgres` is an embedded PostgreSQL already starting (main.ts).
 */
export async function startStack(
  overrides: Record<string, string | undefined> = {},
  early: { postgres?: Promise<EmbeddedPostgres> } = {},
): Promise<RunningStack> {
  const source: Record<string, string | undefined> = { ...process.env, ...overrides };
  const config = parseConfig(stackConfigSchema, source);
  const host = config.GRPC_HOST;
  const ports = {
    IDENTITY_PORT: await resolvePort(host, config.IDENTITY_PORT),
    ORG_PORT: await resolvePort(host, config.ORG_PORT),
    BOARD_PORT: await resolvePort(host, config.BOARD_PORT),
    TASK_PORT: await resolvePort(host, config.TASK_PORT),
    AUDIT_PORT: await resolvePort(host, config.AUDIT_PORT),
    NOTIFY_PORT: await resolvePort(host, config.NOTIFY_PORT),
    WEBHOOK_PORT: await resolvePort(host, config.WEBHOOK_PORT),
  };
  const env: NodeJS.ProcessEnv = {
    ...source,
    ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    IDENTITY_ADDR: `${host}:${ports.IDENTITY_PORT}`,
    ORG_ADDR: `${host}:${ports.ORG_PORT}`,
    BOARD_ADDR: `${host}:${ports.BOARD_PORT}`,
    TASK_ADDR: `${host}:${ports.TASK_PORT}`,
    AUDIT_ADDR: `${host}:${ports.AUDIT_PORT}`,
  };
  // Without DATABASE_URL: one real PostgreSQL for every service, started first and stopped last.
  const postgres = config.DATABASE_URL
    ? undefined
    : await (early.postgres ?? startEmbeddedPostgres({ dataDir: config.TASKMESH_DATA_DIR, maxConnections: 150, log: createLogger('postgres') }));
  if (postgres) env.DATABASE_URL = postgres.url;
  const closers: (() => Promise<void>)[] = postgres ? [() => postgres.stop()] : [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne().catch(() => undefined);
  };
  const bus = createEventBus(config, createLogger('events'), 'embedded');
  closers.push(() => bus.close());
  try {
    // Addresses are fixed up front and clients connect lazily, so the services can start side by side. Each
    // starts as itself (runAsService), so what it leaves running reports its own spans and metrics.
    const started = await Promise.allSettled([
      runAsService('identity', () => startIdentity({ config: loadIdentityConfig(env), log: createLogger('identity'), bus })),
      runAsService('org', () => startOrg({ config: loadOrgConfig(env), log: createLogger('org'), bus })),
      runAsService('board', () => startBoard({ config: loadBoardConfig(env), log: createLogger('board'), bus })),
      runAsService('task', () => startTask({ config: loadTaskConfig(env), log: createLogger('task'), bus })),
      runAsService('audit', () => startAudit({ config: loadAuditConfig(env), log: createLogger('audit'), bus })),
      runAsService('notify', () => startNotify({ config: loadNotifyConfig(env), log: createLogger('notify'), bus })),
      runAsService('webhook', () => startWebhook({ config: loadWebhookConfig(env), log: createLogger('webhook'), bus })),
    ] as const);
    for (const result of started) if (result.status === 'fulfilled') closers.push(() => result.value.close());
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const [identity, org, board, task, audit, notify, webhook] = started.map((r) => (r as PromiseFulfilledResult<unknown>).value) as [
      Awaited<ReturnType<typeof startIdentity>>,
      Awaited<ReturnType<typeof startOrg>>,
      Awaited<ReturnType<typeof startBoard>>,
      Awaited<ReturnType<typeof startTask>>,
      Awaited<ReturnType<typeof startAudit>>,
      Awaited<ReturnType<typeof startNotify>>,
      Awaited<ReturnType<typeof startWebhook>>,
    ];
    // Every consumer has subscribed: events waiting in the outboxes may flow now.
    bus.start();

    const services: Record<string, string> = {
      [IDENTITY_SERVICE_NAME]: identity.grpc.address,
      [ORG_SERVICE_NAME]: org.grpc.address,
      [BOARD_SERVICE_NAME]: board.grpc.address,
      [TASK_SERVICE_NAME]: task.grpc.address,
      [AUDIT_SERVICE_NAME]: audit.grpc.address,
      [WEBHOOK_SERVICE_NAME]: webhook.grpc.address,
    };
    const edge = await startEdge({
      host: config.EDGE_HOST,
      port: config.EDGE_PORT,
      upstreams: services,
      httpLimits: readHttpServerLimits(source),
      ...(config.EDGE_ACCESS_LOG === 'off' ? { accessLog: false as const } : {}),
    });
    closers.push(() => edge.close(shutdownGraceMs()));
    return {
      url: edge.url,
      services: { ...services, 'notify (mail; consumes events, no API)': notify.grpc.address },
      events: bus.mode,
      ...(postgres ? { postgresPid: postgres.pid } : {}),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function runEmbedded(early: { postgres?: Promise<EmbeddedPostgres> } = {}): Promise<void> {
  const log = createLogger('embedded');
  const stack = await startStack({}, early);
  for (const [service, address] of Object.entries(stack.services)) log.info({ service, address }, 'gRPC service listening');
  log.info({ url: stack.url }, 'REST edge listening');
  process.stdout.write(
    [
      '',
      'Taskmesh is running.',
      `  REST API   ${stack.url}   (try: curl -s ${stack.url}/healthz; docs at ${stack.url}/docs)`,
      ...Object.entries(stack.services).map(([service, address]) => `  gRPC       ${address}   ${service}`),
      `  Data       ${process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : `embedded PostgreSQL under ${process.env.TASKMESH_DATA_DIR || '.data'}/postgres`}`,
      `  Events     ${stack.events === 'jetstream' ? 'NATS JetStream at NATS_URL' : 'in-process (set NATS_URL for JetStream)'}`,
      `  Mail       ${process.env.SMTP_URL ? 'SMTP at SMTP_URL' : `.eml files under ${process.env.TASKMESH_DATA_DIR || '.data'}/mail`}`,
      '  Stop with Ctrl+C.',
      '',
    ].join('\n'),
  );
  onShutdownSignal(async () => {
    await stack.close();
    await shutdownTelemetry();
  }, log);
}
