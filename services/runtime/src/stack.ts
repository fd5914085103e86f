import type { MigrationObject } from '@mikro-orm/core';
import type { Logger } from 'pino';
import { z } from 'zod';
import { commonConfigShape, env as envShape, parseConfig } from './config.ts';
import { runAsService } from './current-service.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.ts';
import { createEventBus, eventBusConfigShape } from './events/create-event-bus.ts';
import type { EventBus } from './events/event-bus.ts';
import { freePort } from './free-port.ts';
import { createLogger } from './logger.ts';
import { shutdownGraceMs } from './shutdown.ts';

/** What the builder needs of a started service. */
export interface RunningService {
  grpc: { address: string };
  close(): Promise<void>;
}

/** What a service's start gets: the stack's environment (every address filled in), its logger and the shared bus. */
export interface ServiceContext {
  env: Record<string, string | undefined>;
  log: Logger;
  bus: EventBus;
  /** Extra dependencies a test hands this service (e.g. a recording mailer); empty in production. */
  inject: Record<string, unknown>;
}

/**
 * One service, described once: the builder, the test stacks and the process bench compose these. Adding a
 * service to the system is one descriptor (services/<name>/src/descriptor.ts) and one line in the list.
 */
export interface ServiceDescriptor<R extends RunningService = RunningService> {
  /** Short name: schema, logger, tracing (`service.name`), `<NAME>_PORT` / `<NAME>_ADDR`. */
  name: string;
  /** Full gRPC service name the edge routes to; absent for a service without a public API (notify). */
  grpcService?: string;
  /** Further gRPC services the same server hosts (org hosts the platform administration's AdminService). */
  moreGrpcServices?: readonly string[];
  /** Port when `<NAME>_PORT` is unset. */
  defaultPort: number;
  /** Standalone entry point (as deployed), relative to the repository root. */
  entryPoint: string;
  /** The service's schema migrations, applied at its start. */
  migrations: readonly MigrationObject[];
  start(context: ServiceContext): Promise<R>;
}

export type RunningOf<D> = D extends ServiceDescriptor<infer R> ? R : never;

/** The REST edge (or any front) started after the services and closed before them. */
export interface FrontDescriptor {
  name: string;
  /** Standalone entry point (as deployed), relative to the repository root. */
  entryPoint: string;
  start(context: { env: Record<string, string | undefined>; upstreams: Record<string, string> }): Promise<RunningFront>;
}

export interface RunningFront {
  url: string;
  close(graceMs: number): Promise<void>;
}

export const portVariable = (service: string) => `${service.toUpperCase()}_PORT`;
export const addressVariable = (service: string) => `${service.toUpperCase()}_ADDR`;

export interface StackOptions {
  services: readonly ServiceDescriptor[];
  /** The REST edge in front; none when absent. */
  front?: FrontDescriptor;
  /** Replace values of `environment` (tests: port 0, their own database). */
  overrides?: Record<string, string | undefined>;
  /** Where configuration comes from; default process.env. */
  environment?: Record<string, string | undefined>;
  /** An event bus to use instead of one made from NATS_URL; the stack starts and closes it. */
  bus?: EventBus;
  /** Extra dependencies per service name (tests). */
  inject?: Record<string, Record<string, unknown>>;
  /** An embedded PostgreSQL already starting (npm start starts it while code loads). */
  postgres?: Promise<EmbeddedPostgres>;
  /** Logger per component; default createLogger (LOG_LEVEL). */
  logger?: (component: string) => Logger;
}

export interface RunningStack {
  /** Base URL of the front, when one was started. */
  url: string;
  /** gRPC address per full service name (services with a public API). */
  services: Record<string, string>;
  /** gRPC address per short service name, every service. */
  addresses: Record<string, string>;
  /** 'in-process' (embedded default) or 'jetstream' (NATS_URL set). */
  events: 'in-process' | 'jetstream';
  bus: EventBus;
  /** The PostgreSQL every service uses. */
  databaseUrl: string;
  /** The embedded PostgreSQL's server process, when DATABASE_URL was unset. */
  postgresPid?: number;
  /** The running handle of a service of this stack (throws for one it does not run). */
  get<D extends ServiceDescriptor>(descriptor: D): RunningOf<D>;
  /** Front first, services in reverse start order, the bus, PostgreSQL last. */
  close(): Promise<void>;
}

const stackConfigSchema = z.object({ ...commonConfigShape, ...eventBusConfigShape });

/**
 * On its own embedded PostgreSQL (one machine, every writer in this process, each commit nudging its loop) the
 * stack looks for unannounced work and checks the database every 30 s instead of every 1–5 s, and a pooled
 * connection goes after 2 s unused: an idle stack holds almost no PostgreSQL backends (README, "Start-up and
 * footprint"). Each is only a default: the environment's own value wins.
 */
export const EMBEDDED_IDLE_DEFAULTS: Readonly<Record<string, string>> = {
  BACKGROUND_POLL_INTERVAL_MS: '30000',
  DB_HEALTH_INTERVAL_MS: '30000',
  DB_POOL_IDLE_TIMEOUT_MS: '2000',
};

/**
 * Starts `services` in this process, each as itself (tracing and metrics carry its name) on its own port with
 * its own schema in one PostgreSQL (an embedded one under $TASKMESH_DATA_DIR/postgres unless DATABASE_URL is
 * set), sharing one event bus (in-process unless NATS_URL is set), then the front. Port 0 means a free port,
 * chosen up front because services dial each other (board and task both ways).
 */
export async function startStack(options: StackOptions): Promise<RunningStack> {
  const source: Record<string, string | undefined> = { ...(options.environment ?? process.env), ...options.overrides };
  const config = parseConfig(stackConfigSchema, source);
  const logger = options.logger ?? createLogger;
  const host = config.GRPC_HOST;
  const names = options.services.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new Error(`startStack: a service listed twice in ${names.join(', ')}`);
  const portSchema = z.object(Object.fromEntries(options.services.map((s) => [portVariable(s.name), envShape.port(s.defaultPort)])));
  const configuredPorts = parseConfig(portSchema, source) as Record<string, number>;
  const env: Record<string, string | undefined> = { ...source };
  const choosesPorts = options.services.some((s) => configuredPorts[portVariable(s.name)] === 0);
  const assignPorts = async () => {
    for (const service of options.services) {
      const configured = configuredPorts[portVariable(service.name)]!;
      const port = configured === 0 ? await freePort(host) : configured;
      env[portVariable(service.name)] = String(port);
      env[addressVariable(service.name)] = `${host}:${port}`;
    }
  };
  await assignPorts();

  // Without DATABASE_URL: one real PostgreSQL for every service, started first and stopped last.
  const postgres = config.DATABASE_URL
    ? undefined
    : await (options.postgres ?? startEmbeddedPostgres({ dataDir: config.TASKMESH_DATA_DIR, maxConnections: 150, log: logger('postgres') }));
  if (postgres) {
    env.DATABASE_URL = postgres.url;
    for (const [name, value] of Object.entries(EMBEDDED_IDLE_DEFAULTS)) env[name] ??= value;
  }
  const closers: (() => Promise<void>)[] = postgres ? [() => postgres.stop()] : [];
  const close = async () => {
    for (const closeOne of closers.splice(0).reverse()) await closeOne().catch(() => undefined);
  };
  const bus = options.bus ?? createEventBus(config, logger('events'), 'embedded');
  closers.push(() => bus.close());
  try {
    // Clients connect lazily and every address is known, so the services start side by side.
    const startAll = () =>
      Promise.allSettled(
        options.services.map((service) =>
          runAsService(service.name, () =>
            service.start({ env, log: logger(service.name), bus, inject: options.inject?.[service.name] ?? {} }),
          ),
        ),
      );
    let started = await startAll();
    // A port chosen up front can still be taken by another process before it is bound: choose again (twice).
    for (let retry = 0; retry < 2 && choosesPorts && started.some((r) => r.status === 'rejected' && isAddressInUse(r.reason)); retry++) {
      for (const result of started) if (result.status === 'fulfilled') await result.value.close().catch(() => undefined);
      await assignPorts();
      started = await startAll();
    }
    for (const result of started) if (result.status === 'fulfilled') closers.push(() => result.value.close());
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const running = new Map(options.services.map((s, i) => [s.name, (started[i] as PromiseFulfilledResult<RunningService>).value]));
    // Every consumer has subscribed: events waiting in the outboxes may flow now.
    bus.start();

    const services: Record<string, string> = {};
    for (const service of options.services) {
      for (const name of [service.grpcService, ...(service.moreGrpcServices ?? [])]) {
        if (name) services[name] = running.get(service.name)!.grpc.address;
      }
    }
    let url = '';
    if (options.front) {
      const front = await options.front.start({ env, upstreams: services });
      closers.push(() => front.close(shutdownGraceMs(source)));
      url = front.url;
    }
    return {
      url,
      services,
      addresses: Object.fromEntries(options.services.map((s) => [s.name, running.get(s.name)!.grpc.address])),
      events: bus.mode,
      bus,
      databaseUrl: env.DATABASE_URL!,
      ...(postgres ? { postgresPid: postgres.pid } : {}),
      get<D extends ServiceDescriptor>(descriptor: D): RunningOf<D> {
        const handle = running.get(descriptor.name);
        if (!handle) throw new Error(`this stack does not run ${descriptor.name}`);
        return handle as RunningOf<D>;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function isAddressInUse(error: unknown): boolean {
  return /EADDRINUSE/.test(error instanceof Error ? `${error.message} ${(error as NodeJS.ErrnoException).code ?? ''}` : String(error));
}
