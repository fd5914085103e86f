import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { attachmentService } from '../src/descriptor.ts';
import { PendingAttachmentReaper } from '../src/pending-attachment-reaper.ts';
import type { RunningAttachment } from '../src/server.ts';
import { eventually, readyAttachmentAt, restAt, type Reply } from './rest-helpers.ts';

/**
 * The reaper of pending attachments against the whole stack: real PostgreSQL (RLS on, app role), JetStream
 * when NATS answers, the embedded S3-compatible server over HTTP; attachments are aged by moving created_at.
 */
const natsUrl = await natsForTests();
const STORE_KEY = { accessKeyId: 'WTREAPERTESTKEY', secretAccessKey: 'wt-reaper-test-secret-key' };
const BUCKET = 'taskmesh-attachments';

let dataDir: string;
let stack: TestStack;
let running: RunningAttachment;
let sql: pg.Client;
let s3: S3Client;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'wt-attach-reaper-'));
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: {
      TASKMESH_DATA_DIR: dataDir,
      S3_ACCESS_KEY_ID: STORE_KEY.accessKeyId,
      S3_SECRET_ACCESS_KEY: STORE_KEY.secretAccessKey,
      // The service's own job runs at start only; the tests call it, or start a second replica's.
      ATTACHMENT_REAP_INTERVAL_SECONDS: '3600',
    },
  });
  running = stack.get(attachmentService);
  sql = new pg.Client({ connectionString: stack.db.databaseUrl });
  await sql.connect();
  s3 = new S3Client({ endpoint: running.objectServer!.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: STORE_KEY });
}, 120_000);
afterAll(async () => {
  s3?.destroy();
  await sql?.end();
  await stack?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const rest = (token: string, method: string, path: string, body?: unknown): Promise<Reply> => restAt(stack.url, token, method, path, body);

async function workspace() {
  const owner = await signUpAs(stack.url, 'owner');
  const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Reaped' } })).organization!.name;
  const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
  const list = (await owner.api.board.createList({ parent: board, list: { displayName: 'L' } })).list!.name;
  const task = (await owner.api.task.createTask({ parent: board, task: { list, title: 't', priority: 'PRIORITY_MEDIUM' } })).task!.name;
  return { owner, org, task };
}

interface Pending {
  name: string;
  id: string;
  key: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const idOf = (name: string) => name.split('/').at(-1)!;
/** The object key of an attachment: <org>/<task>/<attachment>. */
const keyOf = (name: string) => {
  const [, org, , , , task, , id] = name.split('/');
  return `${org}/${task}/${id}`;
};

/** A PENDING attachment; with `bytes`, uploaded to its presigned URL (but never completed). */
async function pending(token: string, task: string, bytes?: string, requestId?: string): Promise<Pending & { created: Reply }> {
  const size = bytes === undefined ? 7 : new TextEncoder().encode(bytes).length;
  const created = await rest(token, 'POST', `${task}/attachments${requestId ? `?requestId=${requestId}` : ''}`, {
    filename: 'draft.txt',
    contentType: 'text/plain',
    sizeBytes: String(size),
  });
  expect(created.status).toBe(200);
  if (bytes !== undefined) {
    const put = await fetch(created.body.uploadUrl, { method: 'PUT', headers: created.body.uploadHeaders, body: bytes });
    expect(put.status).toBe(200);
  }
  const name = created.body.attachment.name as string;
  return { name, id: idOf(name), key: keyOf(name), created };
}

/** Moves the attachments' creation this many hours into the past. */
async function age(ids: string[], hours: number): Promise<void> {
  const res = await sql.query('update attachment.attachments set created_at = now() - make_interval(secs => $2) where id = any($1::uuid[])', [ids, hours * 3600]);
  expect(res.rowCount).toBe(ids.length);
}

/** HEAD on the object in the bucket, over HTTP: 200 or 404. */
async function headStatus(key: string): Promise<number> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return 200;
  } catch (err) {
    if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return 404;
    throw err;
  }
}

/** The rows' states as the database holds them (superuser: every org). */
async function statesOf(ids: string[]): Promise<Record<string, string>> {
  const res = await sql.query('select id, state from attachment.attachments where id = any($1::uuid[])', [ids]);
  return Object.fromEntries(res.rows.map((row: { id: string; state: string }) => [row.id, row.state]));
}

async function queuedDeletions(keys: string[]): Promise<number> {
  const res = await sql.query('select count(*)::int as n from attachment.object_deletions where object_key = any($1::text[])', [keys]);
  return res.rows[0].n as number;
}

describe('reaper of pending attachments', () => {
  it('reaps pending attachments past the TTL with their objects; keeps fresh pending and completed ones', async () => {
    const w = await workspace();
    const other = await workspace();
    const uploaded = await pending(w.owner.token, w.task, 'abandoned bytes');
    const empty = await pending(w.owner.token, w.task);
    const otherOrgs = await pending(other.owner.token, other.task, 'other org');
    const fresh = await pending(w.owner.token, w.task, 'still coming');
    const readyName = await readyAttachmentAt(stack.url, w.owner.token, w.task, new TextEncoder().encode('kept'), { filename: 'kept.txt', contentType: 'text/plain' });
    const ready = { name: readyName, id: idOf(readyName), key: keyOf(readyName) };
    expect([await headStatus(uploaded.key), await headStatus(empty.key), await headStatus(otherOrgs.key)]).toEqual([200, 404, 200]);

    await age([uploaded.id, empty.id, otherOrgs.id, ready.id], 25);
    await age([fresh.id], 23);
    expect(await running.reaper.reapDue()).toBe(3);

    expect(await statesOf([uploaded.id, empty.id, otherOrgs.id, fresh.id, ready.id])).toEqual({ [fresh.id]: 'PENDING', [ready.id]: 'READY' });
    // Objects gone from the bucket (the one never uploaded was deleted too) and the queue drained.
    expect([await headStatus(uploaded.key), await headStatus(empty.key), await headStatus(otherOrgs.key)]).toEqual([404, 404, 404]);
    expect(await queuedDeletions([uploaded.key, empty.key, otherOrgs.key])).toBe(0);
    expect([await headStatus(fresh.key), await headStatus(ready.key)]).toEqual([200, 200]);
    const download = await rest(w.owner.token, 'GET', ready.name);
    expect((await fetch(download.body.downloadUrl)).status).toBe(200);

    // A reaped attachment is unknown, as any other: NOT_FOUND on :complete and on GET.
    const complete = await rest(w.owner.token, 'POST', `${uploaded.name}:complete`, {});
    expect([complete.status, complete.body.code]).toEqual([404, 5]);
    expect((await rest(w.owner.token, 'GET', empty.name)).status).toBe(404);
    expect((await rest(other.owner.token, 'POST', `${otherOrgs.name}:complete`, {})).status).toBe(404);
    // The fresh one still completes; nothing more is due.
    expect((await rest(w.owner.token, 'POST', `${fresh.name}:complete`, {})).body.attachment.state).toBe('STATE_READY');
    expect(await running.reaper.reapDue()).toBe(0);
  }, 60_000);

  it('skips a row a :complete holds, and a :complete racing the reaper leaves a READY row with its object or neither', async () => {
    const w = await workspace();
    // A transaction holding the row, as :complete holds it between its check and its commit: skipped, not waited for.
    const held = await pending(w.owner.token, w.task, 'held');
    await age([held.id], 25);
    await sql.query('begin');
    try {
      await sql.query('select 1 from attachment.attachments where id = $1 for update', [held.id]);
      expect(await running.reaper.reapDue()).toBe(0);
    } finally {
      await sql.query('rollback');
    }
    expect(await statesOf([held.id])).toEqual({ [held.id]: 'PENDING' });

    // Completions and two replicas' reaper runs at once: each attachment ends READY with its object, or gone.
    const second = new PendingAttachmentReaper(running.db.em, running.deletions, { ttlHours: 24, intervalSeconds: 3600 }, pino({ level: 'silent' }));
    const racing = [held];
    for (let i = 0; i < 7; i += 1) racing.push(await pending(w.owner.token, w.task, `racing ${i}`));
    await age(racing.map((a) => a.id), 25);
    const ids = racing.map((a) => a.id);
    const completing = Promise.all(racing.map((a) => rest(w.owner.token, 'POST', `${a.name}:complete`, {})));
    // The runs start once the first completion committed, while the others are still on their way.
    while (!Object.values(await statesOf(ids)).includes('READY')) await sleep(2);
    const [completions, reaped] = await Promise.all([
      completing,
      Promise.all([running.reaper.reapDue(), second.reapDue(), sleep(5).then(() => running.reaper.reapDue())]),
    ]);
    await running.deletions.drain();
    const states = await statesOf(racing.map((a) => a.id));
    let gone = 0;
    for (const [i, a] of racing.entries()) {
      const status = completions[i]!.status;
      expect([200, 404], a.name).toContain(status);
      if (status === 200) {
        expect(states[a.id], a.name).toBe('READY');
        expect(await headStatus(a.key), a.name).toBe(200);
      } else {
        gone += 1;
        expect(states[a.id], a.name).toBeUndefined();
        expect(await headStatus(a.key), a.name).toBe(404);
      }
    }
    expect(reaped.reduce((sum, n) => sum + n, 0)).toBe(gone);
    // Whatever survived was completed; the next run finds nothing.
    expect(await running.reaper.reapDue()).toBe(0);
  }, 60_000);

  it('a :complete whose row and object the reaper removes between its read and its check answers NOT_FOUND', async () => {
    const w = await workspace();
    const late = await pending(w.owner.token, w.task, 'uploaded late');
    await age([late.id], 25);
    // The reaper runs exactly between :complete's read of the row and its look at the stored object.
    const stat = running.store.stat.bind(running.store);
    let reaped = -1;
    running.store.stat = async (key) => {
      running.store.stat = stat;
      reaped = await running.reaper.reapDue();
      return stat(key);
    };
    try {
      const complete = await rest(w.owner.token, 'POST', `${late.name}:complete`, {});
      expect(reaped).toBe(1);
      expect([complete.status, complete.body.code]).toEqual([404, 5]);
    } finally {
      running.store.stat = stat;
    }
    expect(await statesOf([late.id])).toEqual({});
    expect(await headStatus(late.key)).toBe(404);
  }, 60_000);

  it('runs on its periodic job (a second replica) and stops cleanly', async () => {
    const w = await workspace();
    const stale = await pending(w.owner.token, w.task, 'late');
    await age([stale.id], 25);
    const replica = new PendingAttachmentReaper(running.db.em, running.deletions, { ttlHours: 24, intervalSeconds: 1 }, pino({ level: 'silent' }));
    replica.start();
    try {
      await eventually(async () => (await headStatus(stale.key)) === 404, 'the periodic reaper to remove the object');
      expect(await statesOf([stale.id])).toEqual({});
    } finally {
      await replica.stop();
    }
  }, 60_000);

  it('a retried create of an old pending attachment gets an upload URL that expires by its TTL', async () => {
    const w = await workspace();
    const requestId = randomUUID();
    const first = await pending(w.owner.token, w.task, undefined, requestId);
    await age([first.id], 24 - 5 / 60);
    const retry = await pending(w.owner.token, w.task, undefined, requestId);
    expect(retry.name).toBe(first.name);
    const left = Date.parse(retry.created.body.expireTime) - Date.now();
    expect(left).toBeGreaterThan(3 * 60_000);
    expect(left).toBeLessThanOrEqual(5 * 60_000);
    // Past the TTL (not reaped yet): no upload URL any more.
    await age([first.id], 24.01);
    const late = await pending(w.owner.token, w.task, undefined, requestId);
    expect([late.name, late.created.body.uploadUrl]).toEqual([first.name, '']);
  }, 60_000);
});
