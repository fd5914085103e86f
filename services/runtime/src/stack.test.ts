import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';
import { EMBEDDED_IDLE_DEFAULTS, startStack, type FrontDescriptor, type RunningService, type ServiceDescriptor } from './stack.ts';

const quiet = () => pino({ level: 'silent' });
// Never dialled: the fake services below open no connection.
const environment = { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };

/** A service that records what it was given and when it stopped; `fail` makes its start throw. */
function fakeService(name: string, events: string[], options: { fail?: boolean; grpcService?: string } = {}) {
  const seen: { env?: Record<string, string | undefined>; inject?: Record<string, unknown> } = {};
  const descriptor: ServiceDescriptor<RunningService & { name: string }> = {
    name,
    ...(options.grpcService ? { grpcService: options.grpcService } : {}),
    defaultPort: 1,
    entryPoint: `services/${name}/src/main.ts`,
    migrations: [],
    async start({ env, inject }) {
      seen.env = env;
      seen.inject = inject;
      if (options.fail) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
      return {
        name,
        grpc: { address: env[`${name.toUpperCase()}_ADDR`]! },
        async close() {
          events.push(`close ${name}`);
        },
      };
    },
  };
  return { descriptor, seen };
}

function fakeFront(events: string[]): FrontDescriptor & { upstreams?: Record<string, string> } {
  const front: FrontDescriptor & { upstreams?: Record<string, string> } = {
    name: 'edge',
    entryPoint: 'services/edge/src/main.ts',
    async start({ upstreams }) {
      front.upstreams = upstreams;
      events.push('start edge');
      return {
        url: 'http://127.0.0.1:1',
        async close() {
          events.push('close edge');
        },
      };
    },
  };
  return front;
}

describe('startStack', () => {
  it('gives every service every address up front, free ports for 0, and the edge the services with an API', async () => {
    const events: string[] = [];
    const board = fakeService('board', events, { grpcService: 'x.board.v1.BoardService' });
    const task = fakeService('task', events, { grpcService: 'x.task.v1.TaskService' });
    const mail = fakeService('mail', events);
    const front = fakeFront(events);
    const fixed = await freePort();
    const stack = await startStack({
      services: [board.descriptor, task.descriptor, mail.descriptor],
      front,
      environment,
      overrides: { BOARD_PORT: '0', TASK_PORT: String(fixed), MAIL_PORT: '0' },
      inject: { mail: { mailer: 'recording' } },
      logger: quiet,
    });
    try {
      // Board and task each know the other's address before either has started.
      expect(board.seen.env?.TASK_ADDR).toBe(`127.0.0.1:${fixed}`);
      expect(task.seen.env?.BOARD_ADDR).toBe(stack.addresses.board);
      expect(stack.addresses.board).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(stack.addresses.board).not.toBe('127.0.0.1:0');
      expect(mail.seen.inject).toEqual({ mailer: 'recording' });
      expect(board.seen.inject).toEqual({});
      expect(front.upstreams).toEqual({ 'x.board.v1.BoardService': stack.addresses.board, 'x.task.v1.TaskService': `127.0.0.1:${fixed}` });
      expect(stack.get(mail.descriptor).name).toBe('mail');
      expect(stack.events).toBe('in-process');
      expect(stack.url).toBe('http://127.0.0.1:1');
      // On a PostgreSQL of its own choosing (DATABASE_URL) nothing of the embedded idle defaults applies.
      for (const name of Object.keys(EMBEDDED_IDLE_DEFAULTS)) expect(board.seen.env?.[name]).toBeUndefined();
    } finally {
      await stack.close();
    }
  });

  it('on its embedded PostgreSQL, gives the services the idle defaults the environment does not set', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'taskmesh-stack-idle-'));
    const board = fakeService('board', []);
    try {
      const stack = await startStack({
        services: [board.descriptor],
        environment: { TASKMESH_DATA_DIR: dataDir, DB_HEALTH_INTERVAL_MS: '7000' },
        overrides: { BOARD_PORT: '0' },
        logger: quiet,
      });
      try {
        expect(stack.postgresPid).toBeGreaterThan(0);
        expect(board.seen.env).toMatchObject({ BACKGROUND_POLL_INTERVAL_MS: '30000', DB_POOL_IDLE_TIMEOUT_MS: '2000', DB_HEALTH_INTERVAL_MS: '7000' });
      } finally {
        await stack.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('closes the edge first, then the services in reverse order, once', async () => {
    const events: string[] = [];
    const services = ['identity', 'org', 'board'].map((name) => fakeService(name, events).descriptor);
    const stack = await startStack({ services, front: fakeFront(events), environment, overrides: { IDENTITY_PORT: '0', ORG_PORT: '0', BOARD_PORT: '0' }, logger: quiet });
    await stack.close();
    await stack.close();
    expect(events.filter((e) => e.startsWith('close'))).toEqual(['close edge', 'close board', 'close org', 'close identity']);
  });

  it('closes what did start when one service fails, and reports that failure', async () => {
    const events: string[] = [];
    const ok = fakeService('org', events).descriptor;
    const broken = fakeService('board', events, { fail: true }).descriptor;
    await expect(
      startStack({ services: [ok, broken], environment, overrides: { ORG_PORT: '0', BOARD_PORT: '0' }, logger: quiet }),
    ).rejects.toThrow('board cannot start');
    expect(events).toEqual(['start org', 'close org']);
  });

  it('chooses the ports again when one it chose is taken before its service binds it', async () => {
    const events: string[] = [];
    const intruders: Server[] = [];
    const listen = (server: Server, port: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
    const given: string[] = [];
    // Board really binds its port; on the first try another process (here: this test) gets there first.
    const board: ServiceDescriptor = {
      name: 'board',
      defaultPort: 1,
      entryPoint: 'services/board/src/main.ts',
      migrations: [],
      async start({ env }) {
        const port = Number(env.BOARD_PORT);
        given.push(env.BOARD_ADDR!);
        if (given.length === 1) {
          const intruder = createServer();
          await listen(intruder, port);
          intruders.push(intruder);
        }
        const server = createServer();
        await listen(server, port);
        events.push(`start board ${port}`);
        return { grpc: { address: env.BOARD_ADDR! }, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
      },
    };
    const org = fakeService('org', events);
    try {
      const stack = await startStack({ services: [org.descriptor, board], environment, overrides: { ORG_PORT: '0', BOARD_PORT: '0' }, logger: quiet });
      expect(given).toHaveLength(2);
      expect(given[1]).not.toBe(given[0]);
      expect(stack.addresses.board).toBe(given[1]);
      // Org, started beside the failed board, was closed and started again with the new address.
      expect(org.seen.env?.BOARD_ADDR).toBe(given[1]);
      expect(events.filter((e) => e.startsWith('start org') || e.startsWith('close org'))).toEqual(['start org', 'close org', 'start org']);
      await stack.close();
    } finally {
      for (const intruder of intruders) intruder.close();
    }
  });

  it('refuses a service listed twice and a port that is not a port, naming the variable', async () => {
    const org = fakeService('org', []).descriptor;
    await expect(startStack({ services: [org, org], environment, logger: quiet })).rejects.toThrow(/listed twice/);
    await expect(startStack({ services: [org], environment, overrides: { ORG_PORT: 'eighty' }, logger: quiet })).rejects.toThrow(/ORG_PORT/);
  });
});
