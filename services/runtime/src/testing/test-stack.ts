import { credentials, type ChannelCredentials, type Client } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pino from 'pino';
import { portVariable, startStack, type RunningStack, type StackOptions } from '../stack.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';
import { uniqueStreamSettings } from './test-nats.ts';

/** A generated grpc-js client class (ts-proto `outputServices=grpc-js`). */
export interface ServiceClientClass<C extends Client> {
  new (address: string, channelCredentials: ChannelCredentials): C;
  serviceName: string;
}

export interface TestStackOptions extends Pick<StackOptions, 'services' | 'front' | 'bus' | 'inject' | 'logger'> {
  /** Configuration beyond the test defaults below (the only environment a test stack reads). */
  overrides?: Record<string, string | undefined>;
  /** Events on JetStream at this NATS, in a stream of the stack's own (deleted on close); in-process when absent. */
  natsUrl?: string;
  /** A database to start on instead of a new one, e.g. to restart a stack on the same data with other settings; the caller drops it. */
  database?: TestDatabase;
}

export interface TestStack extends RunningStack {
  /** The database of this stack alone, dropped on close (unless it was given as `database`). */
  db: TestDatabase;
  /** The JetStream stream of this stack alone (with `natsUrl`), deleted on close. */
  eventStream: string | undefined;
  /** A client of one of the stack's services, made once and closed with the stack. */
  clientOf<C extends Client>(clientClass: ServiceClientClass<C>): C;
}

/** Cheap password hashing, no per-address limits (every test calls from loopback), no membership caching. */
export const TEST_DEFAULTS: Record<string, string> = {
  ARGON2_MEMORY_KIB: '1024',
  ARGON2_ITERATIONS: '1',
  SIGNUP_MAX_PER_ADDRESS: '100000',
  RESET_MAX_PER_ADDRESS: '100000',
  MEMBERSHIP_CACHE_TTL_MS: '0',
  EDGE_HOST: '127.0.0.1',
  EDGE_PORT: '0',
  EDGE_ACCESS_LOG: 'off',
};

/**
 * The stack of runtime/stack.ts for a test: `services` (descriptors) on free ports with a database of their
 * own, quiet logs (TEST_LOG_LEVEL to see them; `logger` to capture them), the process environment ignored. Every integration test that
 * needs running services starts them through this.
 */
export async function startTestStack(options: TestStackOptions): Promise<TestStack> {
  const db = options.database ?? (await createTestDatabase());
  const dropDatabase = () => (options.database ? Promise.resolve() : db.drop());
  const streams = options.natsUrl ? uniqueStreamSettings() : undefined;
  const overrides: Record<string, string | undefined> = {
    ...TEST_DEFAULTS,
    ...Object.fromEntries(options.services.map((s) => [portVariable(s.name), '0'])),
    DATABASE_URL: db.databaseUrl,
    TASKMESH_DATA_DIR: db.dataDir,
    ...(options.natsUrl && streams
      ? {
          NATS_URL: options.natsUrl,
          EVENTS_STREAM: streams.stream,
          EVENTS_SUBJECT_PREFIX: streams.subjectPrefix,
          EVENTS_STREAM_MAX_BYTES: String(streams.maxBytes),
        }
      : {}),
    ...options.overrides,
  };
  const level = process.env.TEST_LOG_LEVEL ?? 'silent';
  let stack: RunningStack;
  try {
    stack = await startStack({
      ...options,
      environment: {},
      overrides,
      logger: options.logger ?? ((component) => pino({ level, base: { service: component } })),
    });
  } catch (err) {
    await dropDatabase();
    throw err;
  }
  const clients = new Map<ServiceClientClass<Client>, Client>();
  return {
    ...stack,
    db,
    eventStream: streams?.stream,
    clientOf<C extends Client>(clientClass: ServiceClientClass<C>): C {
      let client = clients.get(clientClass);
      if (!client) {
        const address = stack.services[clientClass.serviceName];
        if (!address) throw new Error(`this stack does not run ${clientClass.serviceName}`);
        client = new clientClass(address, credentials.createInsecure());
        clients.set(clientClass, client);
      }
      return client as C;
    },
    async close() {
      for (const client of clients.values()) client.close();
      clients.clear();
      await stack.close();
      if (options.natsUrl && streams) await deleteStreams(options.natsUrl, [streams.stream, `${streams.stream}_DLQ`]);
      await dropDatabase();
    },
  };
}

async function deleteStreams(natsUrl: string, streams: string[]): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
