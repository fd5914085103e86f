import { Metadata } from '@grpc/grpc-js';
import { credentials } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BoardServiceClient,
  CreateBoardRequest,
  UpdateBoardRequest,
  WatchBoardRequest,
  type WatchBoardResponse,
} from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createJetStreamBus, type JetStreamBus } from '@taskmesh/runtime/events/jetstream-bus';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { boardConfigSchema } from '../src/config.ts';
import { startBoard, type RunningBoard } from '../src/server.ts';
import { call, createOrg, signUp, startHarness, type Harness } from './harness.ts';

/**
 * Production shape: two board replicas on one PostgreSQL, events through JetStream. A watcher connected to one
 * replica sees a change made through the other (each replica has its own broadcast consumer).
 */
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
let natsUrl: string | undefined;
let h: Harness | undefined;
let replica: RunningBoard | undefined;
let replicaBus: JetStreamBus | undefined;
let replicaClient: BoardServiceClient | undefined;
let streamName: string | undefined;

beforeAll(async () => {
  natsUrl = await natsForTests();
  if (!natsUrl) return;
  const settings = uniqueStreamSettings();
  streamName = settings.stream;
  const bus = () => createJetStreamBus({ natsUrl: natsUrl!, log, ...settings });
  h = await startHarness({ bus: bus() });
  replicaBus = bus();
  replica = await startBoard({
    config: boardConfigSchema.parse({
      DATABASE_URL: h.db.databaseUrl,
      TASKMESH_DATA_DIR: h.db.dataDir,
      BOARD_PORT: '0',
      IDENTITY_ADDR: h.identity.grpc.address,
      ORG_ADDR: h.org.grpc.address,
      TASK_ADDR: '127.0.0.1:1',
      MEMBERSHIP_CACHE_TTL_MS: '0',
    }),
    log,
    bus: replicaBus,
  });
  replicaClient = new BoardServiceClient(replica.grpc.address, credentials.createInsecure());
});
afterAll(async () => {
  replicaClient?.close();
  await replica?.close();
  await replicaBus?.close();
  await h?.close();
  if (natsUrl && streamName) {
    // The run's own streams (JetStream reserves their size on disk): remove them.
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    for (const stream of [streamName, `${streamName}_DLQ`]) await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
  }
});

describe('WatchBoard across replicas (JetStream)', () => {
  it('a watcher on one replica receives a change committed through another', async (ctx) => {
    if (!natsUrl || !replica || !h) ctx.skip();
    const owner = await signUp(h!, 'owner');
    const org = await createOrg(h!, owner);
    const board = (await call(h!, (c) => c.createBoard, CreateBoardRequest.fromPartial({ parent: org, board: { displayName: 'Shared' } }), owner)).board!;

    const stream = replicaClient!.watchBoard(WatchBoardRequest.fromPartial({ name: board.name }), owner.auth ?? new Metadata());
    const first = new Promise<WatchBoardResponse>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
    });
    while (replica!.watchHub.size === 0) await new Promise((r) => setImmediate(r));
    await call(h!, (c) => c.updateBoard, UpdateBoardRequest.fromPartial({ board: { name: board.name, displayName: 'Shared!' } }), owner);
    const message = await first;
    expect([message.event!.type, message.event!.resource]).toEqual(['taskmesh.board.v1.BoardUpdated', board.name]);
    stream.cancel();
  });
});
