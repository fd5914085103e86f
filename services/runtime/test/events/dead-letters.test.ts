// `npm run dlq` against a real nats-server: events a consumer gave up on are listed from the dead-letter
// stream and replayed to their subject, where the consumer that failed handles them (stream names of
// this test's own).
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDeadLetterCommand } from '@taskmesh/runtime/dead-letters-main';
import { DeadLetterError, DeadLetters, type DeadLetter } from '@taskmesh/runtime/events/dead-letters';
import { PermanentEventError, type RunningSubscription } from '@taskmesh/runtime/events/event-bus';
import { createJetStreamBus, type JetStreamBus } from '@taskmesh/runtime/events/jetstream-bus';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { eventually, ORG, quietLog, TASK_ASSIGNED } from './event-test-database.ts';

const natsUrl = await natsForTests();
const root = join(import.meta.dirname, '..', '..', '..', '..');

describe.skipIf(!natsUrl)('dead letters: npm run dlq', () => {
  const settings = uniqueStreamSettings();
  const env = { NATS_URL: natsUrl, EVENTS_STREAM: settings.stream, EVENTS_SUBJECT_PREFIX: settings.subjectPrefix };
  let bus: JetStreamBus;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let subscription: RunningSubscription;
  let healed = false;
  const handled = new Map<string, number>();
  const ids: string[] = [];

  async function dlq(...args: string[]): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await runDeadLetterCommand(args, env, (line) => lines.push(line));
    return { code, lines };
  }
  const listed = async () => JSON.parse((await dlq('list', '--json')).lines[0]!) as DeadLetter[];

  beforeAll(async () => {
    bus = createJetStreamBus({ natsUrl: natsUrl!, log: quietLog, publishTimeoutMs: 2_000, ...settings });
    await bus.whenReady();
    nc = await connect({ servers: natsUrl! });
    jsm = await jetstreamManager(nc);
    subscription = await bus.subscribe({
      consumer: 'dlq-test',
      types: [TASK_ASSIGNED],
      handle: async (event) => {
        if (!healed) throw new PermanentEventError('downstream rejected it');
        handled.set(event.id, (handled.get(event.id) ?? 0) + 1);
      },
    });
    for (let i = 0; i < 3; i++) {
      const id = randomUUID();
      ids.push(id);
      await bus.publish(
        { id, type: TASK_ASSIGNED, organization: ORG, actor: 'users/u1', resource: `${ORG}/tasks/t${i}`, occurTime: new Date(), payload: new Uint8Array([8, i]) },
        {},
      );
    }
    await eventually(async () => (await jsm.streams.info(`${settings.stream}_DLQ`)).state.messages === 3, 'three dead letters');
  });

  afterAll(async () => {
    await subscription?.stop();
    await bus?.close();
    for (const stream of [settings.stream, `${settings.stream}_DLQ`]) await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
  });

  it('lists each dead letter with its consumer, event, original subject and reason', async () => {
    const letters = await listed();
    expect(letters.map((l) => l.eventId)).toEqual(ids);
    for (const letter of letters) {
      expect(letter).toMatchObject({ consumer: 'dlq-test', eventType: TASK_ASSIGNED, deliveries: 1 });
      expect(letter.originalSubject.startsWith(`${settings.subjectPrefix}.task.`)).toBe(true);
      expect(letter.reason).toContain('downstream rejected it');
    }
    expect((await dlq('list', '--consumer', 'someone-else', '--json')).lines[0]).toBe('[]');
    const text = await dlq('list');
    expect(text.lines.at(-1)).toBe(`3 dead letter(s) in ${settings.stream}_DLQ`);
  });

  it('replays one dead letter by its sequence to the consumer that failed, and removes it', async () => {
    healed = true;
    const [first, ...rest] = await listed();
    const { code, lines } = await dlq('replay', String(first!.seq));
    expect(code).toBe(0);
    expect(lines).toEqual([`replayed ${first!.seq} to ${first!.originalSubject}`]);
    await eventually(async () => handled.get(ids[0]!) === 1, 'the replayed event handled');
    expect((await listed()).map((l) => l.seq)).toEqual(rest.map((l) => l.seq));
    await expect(dlq('replay', String(first!.seq))).rejects.toThrow(DeadLetterError);
  });

  it('replays every remaining dead letter with replay-all, each handled once', async () => {
    const { code, lines } = await dlq('replay-all');
    expect(code).toBe(0);
    expect(lines.at(-1)).toBe('2 dead letter(s) replayed');
    await eventually(async () => ids.every((id) => handled.get(id) === 1), 'every event handled');
    expect(await listed()).toEqual([]);
    expect((await DeadLetters.open(nc, settings)).streamName).toBe(`${settings.stream}_DLQ`);
  });

  it('answers a bad command with its usage and exit code 2, from the npm script too', async () => {
    expect((await dlq('replay')).code).toBe(2);
    expect((await dlq('replay', 'abc')).code).toBe(2);
    expect((await dlq('purge')).code).toBe(2);
    const run = promisify(execFile);
    const { stdout } = await run(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'services/runtime/src/dead-letters-main.ts'), 'list'], {
      cwd: root,
      env: { ...process.env, ...env },
    });
    expect(stdout.trim()).toBe(`0 dead letter(s) in ${settings.stream}_DLQ`);
  });
});
