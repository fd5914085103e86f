// Notify end to end in both modes: real identity service (sign-ups and BatchGetUsers), real outbox relays,
// real PostgreSQL, a real SMTP server receiving the mail, and events carried either in-process (the
// embedded default) or by the real nats-server (NATS_URL set; required in CI with TASKMESH_REQUIRE_NATS=1).
import { Migration } from '@mikro-orm/migrations';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OrganizationCreated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { TaskAssigned, TaskCreated, TaskDeleted } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import { Priority, TaskStatus, type Task } from '@taskmesh/gen/taskmesh/task/v1/task.js';
import { identityService } from '@taskmesh/identity/descriptor';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startOutboxRelay, type OutboxRelay } from '@taskmesh/runtime/events/relay';
import { createMailer } from '@taskmesh/runtime/mail';
import { domainEvent, OUTBOX_TABLE_SQL, OUTBOX_TRACE_CONTEXT_SQL, OutboxEvent, recordEvent, type DomainEvent } from '@taskmesh/runtime/outbox';
import { signUp } from '@taskmesh/runtime/testing/test-clients';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { notifyService } from '../src/descriptor.ts';
import type { RunningNotify } from '../src/server.ts';
import { startMailDispatcher } from '../src/events/mail-dispatcher.ts';
import { MailQueue } from '../src/db/mail-queue.ts';
import { TaskDigest } from '../src/db/task-digest.ts';
import { identityUserDirectory } from '../src/user-directory.ts';
import { startSmtpInbox } from './smtp-inbox.ts';

const log = pino({ level: process.env.TEST_LOG_LEVEL || 'silent' });
const natsUrl = await natsForTests();
const modes = [{ mode: 'in-process' }, ...(natsUrl ? [{ mode: 'jetstream' }] : [])];
const HOUR = 3_600_000;

/** Stands in for the task and org services: a schema with an outbox, written through recordEvent. */
class ProducerSchema extends Migration {
  override name = '0001-producer';
  override up(): void {
    this.addSql(OUTBOX_TABLE_SQL);
    this.addSql(OUTBOX_TRACE_CONTEXT_SQL);
  }
}

async function eventually<T>(check: () => T | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const result = check();
    if (result !== undefined && result !== false) return result;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.each(modes)('notify mails ($mode)', ({ mode }) => {
  let stack: TestStack;
  let inbox: Awaited<ReturnType<typeof startSmtpInbox>>;
  let producer: Database;
  let notify: RunningNotify;
  const relays: OutboxRelay[] = [];
  /** Resolves once notify has taken everything published so far (in-process: publish already waited for it). */
  let settled: () => Promise<void> = async () => undefined;
  const now = new Date();
  const org = 'organizations/7d0c4a52-93a4-4f0e-8a55-2d8b1c9e6f01';
  let ada: string;
  let bob: string;
  const stamp = Date.now();
  const adaEmail = `ada-${stamp}@example.com`;
  const bobEmail = `bob-${stamp}@example.com`;

  const mailsTo = (address: string, kind?: RegExp) =>
    inbox.mails.filter((m) => m.envelopeTo.includes(address) && (!kind || kind.test(m.subject)));

  async function produce(...events: DomainEvent[]) {
    await producer.em.fork().transactional(async (tx) => {
      for (const event of events) recordEvent(tx, event);
    });
  }

  function task(id: string, fields: Partial<Task>): Task {
    return {
      name: `${org}/boards/b1/tasks/${id}`,
      list: `${org}/boards/b1/lists/l1`,
      title: id,
      description: '',
      status: TaskStatus.TASK_STATUS_TODO,
      priority: Priority.PRIORITY_MEDIUM,
      assignees: [],
      labels: [],
      dueTime: undefined,
      archived: false,
      position: 'a0',
      creator: ada,
      etag: '1',
      createTime: now,
      updateTime: now,
      ...fields,
    };
  }
  const created = (t: Task) =>
    domainEvent('taskmesh.task.v1.TaskCreated', TaskCreated, { task: t }, { resource: t.name, organization: org, actor: ada });

  beforeAll(async () => {
    inbox = await startSmtpInbox();
    // Identity relays its own outbox onto the bus under test; in JetStream mode a stream of this stack's own.
    stack = await startTestStack({
      services: [identityService, notifyService],
      ...(mode === 'jetstream' ? { natsUrl: natsUrl! } : {}),
      overrides: { SMTP_URL: inbox.url, APP_BASE_URL: 'https://taskmesh.example', DIGEST_HOUR_UTC: '0' },
      inject: { notify: { clock: () => now, digestCheckIntervalMs: 3_600_000 } },
    });
    notify = stack.get(notifyService);
    producer = await openDatabase({
      service: 'producer',
      entities: [OutboxEvent],
      migrations: [{ name: '0001-producer', class: ProducerSchema }],
      databaseUrl: stack.db.databaseUrl,
      log,
    });
    relays.push(startOutboxRelay({ em: producer.em, service: 'producer', bus: stack.bus, log, pollIntervalMs: 50 }));
    if (stack.eventStream) {
      const stream = stack.eventStream;
      const nc = await connect({ servers: natsUrl! });
      const jsm = await jetstreamManager(nc);
      const caughtUp = async () => {
        try {
          const info = await jsm.consumers.info(stream, 'notify');
          return info.num_pending === 0 && info.num_ack_pending === 0;
        } catch {
          return false;
        }
      };
      settled = async () => {
        for (let i = 0; i < 300 && !(await caughtUp()); i++) await new Promise((r) => setTimeout(r, 50));
        if (!(await caughtUp())) throw new Error('notify did not catch up with the stream');
      };
      cleanups.push(() => nc.close());
    }

    ada = (await signUp(stack, 'ada', { email: adaEmail, displayName: 'Ada Lovelace' })).name;
    bob = (await signUp(stack, 'bob', { email: bobEmail, displayName: 'Bob Babbage' })).name;
    await produce(
      domainEvent('taskmesh.org.v1.OrganizationCreated', OrganizationCreated, {
        organization: { name: org, displayName: 'Acme Analytics', etag: '1', createTime: now, updateTime: now },
      }, { resource: org, organization: org, actor: ada }),
    );
  });

  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const relay of relays) await relay.stop();
    for (const cleanup of cleanups) await cleanup();
    await producer?.close();
    await stack?.close();
    await inbox?.close();
  });

  it('welcomes a new user at the address they signed up with', async () => {
    const [welcome] = await eventually(() => mailsTo(adaEmail, /Welcome/).length === 1 && mailsTo(adaEmail, /Welcome/), 'welcome mail');
    expect(welcome!.to).toBe(adaEmail);
    expect(welcome!.text).toContain('Hi Ada Lovelace');
    expect(welcome!.text).toContain('https://taskmesh.example');
    await eventually(() => mailsTo(bobEmail, /Welcome/).length === 1, 'second welcome mail');
  });

  it('mails a task assignment to each new assignee except the one who assigned, once even if redelivered', async () => {
    const release = task('release', { title: 'Ship the release', assignees: [ada, bob], dueTime: new Date(now.getTime() + 3 * HOUR) });
    await produce(
      created(release),
      domainEvent('taskmesh.task.v1.TaskAssigned', TaskAssigned, { task: release.name, title: release.title, assignees: [ada, bob] }, {
        resource: release.name,
        organization: org,
        actor: ada,
      }),
    );
    const [mail] = await eventually(() => mailsTo(bobEmail, /assigned you/).length === 1 && mailsTo(bobEmail, /assigned you/), 'assignment mail');
    expect(mail!.envelopeTo).toEqual([bobEmail]);
    expect(mail!.subject).toBe('Ada Lovelace assigned you: Ship the release');
    expect(mail!.text).toContain('Ada Lovelace assigned you to the task "Ship the release" in Acme Analytics.');
    expect(mail!.text).toContain(`https://taskmesh.example/${release.name}`);

    // Every producer event offered again (a relay that crashed before marking them sent): nothing new goes out.
    await producer.em.fork().execute('update outbox set published_at = null');
    // And an assignment from two days ago (a consumer catching up on history) is recorded, not mailed.
    const old = TaskAssigned.encode({ task: `${org}/boards/b1/tasks/old`, title: 'Old news', assignees: [bob] }).finish();
    await producer.em.fork().execute(
      `insert into outbox (id, type, organization, actor, resource, occur_time, payload) values (gen_random_uuid(), ?, ?, ?, ?, ?, ?)`,
      ['taskmesh.task.v1.TaskAssigned', org, ada, `${org}/boards/b1/tasks/old`, new Date(Date.now() - 48 * HOUR), Buffer.from(old)],
    );
    await relays[0]!.flush();
    await settled();
    await notify.dispatcher.drain();
    expect(mailsTo(bobEmail, /assigned you/)).toHaveLength(1);
    expect(mailsTo(adaEmail, /assigned you/)).toHaveLength(0);
  });

  it('sends each assignee one daily digest per organization of the open tasks due within 24 hours, once across replicas', async () => {
    const soon = new Date(now.getTime() + 2 * HOUR);
    await produce(
      created(task('write-notes', { title: 'Write release notes', assignees: [bob], dueTime: soon })),
      created(task('later', { title: 'Plan next quarter', assignees: [ada, bob], dueTime: new Date(now.getTime() + 72 * HOUR) })),
      created(task('finished', { title: 'Already done', assignees: [bob], dueTime: soon, status: TaskStatus.TASK_STATUS_DONE })),
      created(task('archived', { title: 'Archived one', assignees: [bob], dueTime: soon, archived: true })),
      created(task('dropped', { title: 'Deleted one', assignees: [bob], dueTime: soon })),
      domainEvent('taskmesh.task.v1.TaskDeleted', TaskDeleted, { task: `${org}/boards/b1/tasks/dropped`, list: '', title: 'Deleted one' }, {
        resource: `${org}/boards/b1/tasks/dropped`,
        organization: org,
        actor: ada,
      }),
    );
    await relays[0]!.flush();
    await settled();

    // Two replicas reach the digest hour at once: one builds it, the other finds the day taken.
    const otherReplica = new TaskDigest(notify.db.em, { hourUtc: 0, log });
    const results = await Promise.all([notify.digest.runDue(now), otherReplica.runDue(now)]);
    expect(results.filter((r) => r !== undefined)).toEqual([2]);
    expect(await notify.digest.runDue(new Date(now.getTime() + HOUR))).toBeUndefined();
    // And two replicas' dispatchers drain the queue at once: each mail leaves once.
    const otherMailer = createMailer({ smtpUrl: inbox.url, dataDir: stack.db.dataDir });
    const otherUsers = identityUserDirectory(stack.addresses.identity!);
    const otherDispatcher = startMailDispatcher({
      queue: new MailQueue(notify.db.em),
      mailer: otherMailer,
      users: otherUsers,
      appBaseUrl: 'https://taskmesh.example',
      log,
    });
    await Promise.all([otherDispatcher.drain(), notify.dispatcher.drain()]);
    await otherDispatcher.stop();
    otherMailer.close();
    otherUsers.close();

    const [bobDigest] = await eventually(() => mailsTo(bobEmail, /Due soon/).length === 1 && mailsTo(bobEmail, /Due soon/), 'digest to bob');
    const [adaDigest] = await eventually(() => mailsTo(adaEmail, /Due soon/).length === 1 && mailsTo(adaEmail, /Due soon/), 'digest to ada');
    expect(bobDigest!.subject).toBe('Due soon in Acme Analytics: 2 tasks');
    expect(bobDigest!.text).toContain('Hi Bob Babbage');
    expect(bobDigest!.text).toContain('- Write release notes (due');
    expect(bobDigest!.text).toContain('- Ship the release (due');
    expect(bobDigest!.text).toContain(`https://taskmesh.example/${org}/boards/b1/tasks/write-notes`);
    for (const absent of ['Plan next quarter', 'Already done', 'Archived one', 'Deleted one']) expect(bobDigest!.text).not.toContain(absent);
    expect(adaDigest!.subject).toBe('Due soon in Acme Analytics: 1 task');
    expect(adaDigest!.text).toContain('Ship the release');
    await notify.dispatcher.drain();
    expect(mailsTo(bobEmail, /Due soon/)).toHaveLength(1);
  });
});
