import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { eventually, readyAttachmentAt, restAt, type Reply } from './rest-helpers.ts';

/**
 * Attachments through the REST edge of the whole stack: real PostgreSQL, JetStream when NATS answers, the
 * embedded S3-compatible server over HTTP, and the bytes moved with fetch to the presigned URLs.
 */
const natsUrl = await natsForTests();
const MAX_BYTES = 4096;
const MAX_PER_TASK = 3;
// The embedded store's key pair, fixed here so the test can also write to it as a careless client could.
const STORE_KEY = { accessKeyId: 'WTATTACHTESTKEY', secretAccessKey: 'wt-attach-test-secret-key' };

let dataDir: string;
let stack: TestStack;
let db: TestStack['db'];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'wt-attach-rest-'));
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: {
      TASKMESH_DATA_DIR: dataDir,
      SIGNUP_MAX_PER_ADDRESS: '1000',
      ATTACHMENT_MAX_BYTES: String(MAX_BYTES),
      ATTACHMENT_MAX_PER_TASK: String(MAX_PER_TASK),
      ORG_PURGE_INTERVAL_SECONDS: '1',
      S3_ACCESS_KEY_ID: STORE_KEY.accessKeyId,
      S3_SECRET_ACCESS_KEY: STORE_KEY.secretAccessKey,
    },
  });
  db = stack.db;
}, 120_000);
afterAll(async () => {
  await stack?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** One REST call to the edge with the caller's token. */
const rest = (token: string, method: string, path: string, body?: unknown): Promise<Reply> => restAt(stack.url, token, method, path, body);

type User = Awaited<ReturnType<typeof signUpAs>>;

/** An org with an OWNER, two MEMBERs and a VIEWER, a board and list, a task of the owner's and one of member A's. */
async function workspace() {
  const owner = await signUpAs(stack.url, 'owner');
  const memberA = await signUpAs(stack.url, 'member-a');
  const memberB = await signUpAs(stack.url, 'member-b');
  const viewer = await signUpAs(stack.url, 'viewer');
  const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Files' } })).organization!.name;
  for (const [user, role] of [[memberA, 'ROLE_MEMBER'], [memberB, 'ROLE_MEMBER'], [viewer, 'ROLE_VIEWER']] as const) {
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: user.email, role } });
    await user.api.org.acceptInvitation({ token });
  }
  const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
  const list = (await owner.api.board.createList({ parent: board, list: { displayName: 'L' } })).list!.name;
  const ownersTask = (await owner.api.task.createTask({ parent: board, task: { list, title: 'owner task', priority: 'PRIORITY_MEDIUM' } })).task!.name;
  const memberATask = (await memberA.api.task.createTask({ parent: board, task: { list, title: 'A task', priority: 'PRIORITY_MEDIUM' } })).task!.name;
  return { owner, memberA, memberB, viewer, org, board, list, ownersTask, memberATask };
}

async function createAttachment(user: User, task: string, file: { filename: string; contentType: string; sizeBytes: string }) {
  return rest(user.token, 'POST', `${task}/attachments`, file);
}

async function upload(created: Reply, bytes: Uint8Array): Promise<Response> {
  return fetch(created.body.uploadUrl, { method: 'PUT', headers: created.body.uploadHeaders, body: bytes });
}

/** Create, upload and complete: a READY attachment. */
async function readyAttachment(user: User, task: string, text: string, filename = 'notes.txt') {
  return readyAttachmentAt(stack.url, user.token, task, new TextEncoder().encode(text), { filename, contentType: 'text/plain' });
}

describe('attachments over REST', () => {
  it('create → presigned PUT → :complete → GET with a presigned download that answers as an attachment', async () => {
    const w = await workspace();
    const bytes = new TextEncoder().encode('quarterly figures: 42\n');
    const created = await createAttachment(w.owner, w.ownersTask, { filename: 'Q3 résumé.txt', contentType: 'text/plain', sizeBytes: String(bytes.length) });
    expect(created.status).toBe(200);
    const attachment = created.body.attachment;
    expect(attachment).toMatchObject({
      filename: 'Q3 résumé.txt',
      contentType: 'text/plain',
      sizeBytes: String(bytes.length),
      state: 'STATE_PENDING',
      creator: w.owner.user,
    });
    expect(stack.events).toBe(natsUrl ? 'jetstream' : 'in-process');
    expect(attachment.name).toMatch(new RegExp(`^${w.ownersTask}/attachments/[0-9a-f-]{36}$`));
    expect(attachment.createTime).toMatch(/Z$/);
    expect(created.body.uploadHeaders).toEqual({
      'content-type': 'text/plain',
      'content-disposition': `attachment; filename="Q3 r_sum_.txt"; filename*=UTF-8''${encodeURIComponent('Q3 résumé.txt')}`,
    });
    const uploadExpiry = Date.parse(created.body.expireTime) - Date.now();
    expect(uploadExpiry).toBeGreaterThan(14 * 60_000);
    expect(uploadExpiry).toBeLessThanOrEqual(15 * 60_000);

    // Pending: no download URL yet.
    const pending = await rest(w.viewer.token, 'GET', attachment.name);
    expect([pending.status, pending.body.attachment.state, pending.body.downloadUrl]).toEqual([200, 'STATE_PENDING', '']);

    // A browser on another origin may upload (CORS preflight of the signed PUT).
    const preflight = await fetch(created.body.uploadUrl, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,content-disposition' },
    });
    expect([preflight.status, preflight.headers.get('access-control-allow-origin')]).toEqual([200, '*']);
    expect((await upload(created, bytes)).status).toBe(200);
    const completed = await rest(w.owner.token, 'POST', `${attachment.name}:complete`, {});
    expect(completed.status).toBe(200);
    expect(completed.body.attachment.state).toBe('STATE_READY');
    expect(completed.body.attachment.completeTime).toMatch(/Z$/);
    // Completing again changes nothing.
    expect((await rest(w.owner.token, 'POST', `${attachment.name}:complete`, {})).body.attachment.state).toBe('STATE_READY');

    // Every member reads, the VIEWER included.
    const got = await rest(w.viewer.token, 'GET', attachment.name);
    expect(got.status).toBe(200);
    expect(got.body.attachment.state).toBe('STATE_READY');
    const downloadExpiry = Date.parse(got.body.expireTime) - Date.now();
    expect(downloadExpiry).toBeGreaterThan(4 * 60_000);
    expect(downloadExpiry).toBeLessThanOrEqual(5 * 60_000);
    const download = await fetch(got.body.downloadUrl);
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(bytes);
    expect(download.headers.get('content-disposition')).toBe(`attachment; filename="Q3 r_sum_.txt"; filename*=UTF-8''${encodeURIComponent('Q3 résumé.txt')}`);
    expect(download.headers.get('content-type')).toBe('text/plain');

    const listed = await rest(w.viewer.token, 'GET', `${w.ownersTask}/attachments`);
    expect(listed.status).toBe(200);
    expect(listed.body.attachments.map((a: { name: string }) => a.name)).toEqual([attachment.name]);
    expect(listed.body.nextPageToken).toBe('');
  }, 60_000);

  it('a create retried with the same requestId returns the first attachment, with no new upload URL once READY', async () => {
    const w = await workspace();
    const requestId = crypto.randomUUID();
    const file = { filename: 'once.txt', contentType: 'text/plain', sizeBytes: '4' };
    const first = await rest(w.owner.token, 'POST', `${w.ownersTask}/attachments?requestId=${requestId}`, file);
    const retried = await rest(w.owner.token, 'POST', `${w.ownersTask}/attachments?requestId=${requestId}`, file);
    expect(retried.body.attachment.name).toBe(first.body.attachment.name);
    expect(retried.body.uploadUrl).not.toBe('');
    expect((await upload(retried, new TextEncoder().encode('once'))).status).toBe(200);
    expect((await rest(w.owner.token, 'POST', `${first.body.attachment.name}:complete`, {})).status).toBe(200);
    const afterReady = await rest(w.owner.token, 'POST', `${w.ownersTask}/attachments?requestId=${requestId}`, file);
    expect([afterReady.status, afterReady.body.attachment.state, afterReady.body.uploadUrl]).toEqual([200, 'STATE_READY', '']);
    const listed = await rest(w.owner.token, 'GET', `${w.ownersTask}/attachments`);
    expect(listed.body.attachments).toHaveLength(1);
  }, 60_000);

  it('the object store answers only correctly signed, unexpired requests', async () => {
    const w = await workspace();
    const name = await readyAttachment(w.owner, w.ownersTask, 'secret plans');
    const url = new URL((await rest(w.owner.token, 'GET', name)).body.downloadUrl);
    expect((await fetch(url)).status).toBe(200);
    // Unsigned: the same object without the query string.
    expect((await fetch(`${url.origin}${url.pathname}`)).status).toBe(403);
    // Tampered signature.
    const tampered = new URL(url);
    const signature = tampered.searchParams.get('X-Amz-Signature')!;
    tampered.searchParams.set('X-Amz-Signature', `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`);
    expect((await fetch(tampered)).status).toBe(403);
    // Another disposition than the one signed.
    const overridden = new URL(url);
    overridden.searchParams.set('response-content-disposition', 'inline');
    expect((await fetch(overridden)).status).toBe(403);
    // The upload URL is for PUT with the declared content type only.
    const created = await createAttachment(w.owner, w.ownersTask, { filename: 'a.txt', contentType: 'text/plain', sizeBytes: '3' });
    const wrongType = await fetch(created.body.uploadUrl, { method: 'PUT', headers: { ...created.body.uploadHeaders, 'content-type': 'text/html' }, body: 'abc' });
    expect(wrongType.status).toBe(403);
    const inline = await fetch(created.body.uploadUrl, { method: 'PUT', headers: { ...created.body.uploadHeaders, 'content-disposition': 'inline' }, body: 'abc' });
    expect(inline.status).toBe(403);
    // Expired: a URL for an existing object, signed with the store's key, valid for one second.
    const store = new S3Client({ endpoint: url.origin, region: 'us-east-1', forcePathStyle: true, credentials: STORE_KEY });
    const [, org, , , , task, , id] = name.split('/');
    const shortLived = await getSignedUrl(store, new GetObjectCommand({ Bucket: 'taskmesh-attachments', Key: `${org}/${task}/${id}` }), { expiresIn: 1 });
    store.destroy();
    expect((await fetch(shortLived)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await fetch(shortLived)).status).toBe(403);
  }, 60_000);

  it(':complete is 400 FAILED_PRECONDITION when the object is missing or its size differs from the declared one', async () => {
    const w = await workspace();
    const created = await createAttachment(w.owner, w.ownersTask, { filename: 'data.bin', contentType: 'application/octet-stream', sizeBytes: '10' });
    const name = created.body.attachment.name as string;
    const missing = await rest(w.owner.token, 'POST', `${name}:complete`, {});
    expect([missing.status, missing.body.code]).toEqual([400, 9]);
    expect(JSON.stringify(missing.body)).toContain('OBJECT_MISSING');

    // The length is signed: the store itself refuses other sizes, so nothing was stored.
    expect((await upload(created, new Uint8Array(5))).status).toBe(403);
    expect((await upload(created, new Uint8Array(11))).status).toBe(403);
    expect((await rest(w.owner.token, 'POST', `${name}:complete`, {})).body.code).toBe(9);

    // A store that does not hold clients to the signed length (here: a write with the store's own key).
    const [, org, , , , task, , id] = name.split('/');
    const store = new S3Client({
      endpoint: new URL(created.body.uploadUrl).origin,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: STORE_KEY,
    });
    await store.send(new PutObjectCommand({
      Bucket: 'taskmesh-attachments',
      Key: `${org}/${task}/${id}`,
      Body: new Uint8Array(5),
      ContentType: 'application/octet-stream',
      ContentDisposition: created.body.uploadHeaders['content-disposition'],
    }));
    store.destroy();
    const short = await rest(w.owner.token, 'POST', `${name}:complete`, {});
    expect([short.status, short.body.code]).toEqual([400, 9]);
    expect(short.body.message).toContain('5 bytes, not the declared 10');
    expect(JSON.stringify(short.body)).toContain('SIZE_MISMATCH');
    expect((await rest(w.owner.token, 'GET', name)).body.attachment.state).toBe('STATE_PENDING');

    // The right bytes, uploaded with the same URL, complete it.
    expect((await upload(created, new Uint8Array(10))).status).toBe(200);
    expect((await rest(w.owner.token, 'POST', `${name}:complete`, {})).body.attachment.state).toBe('STATE_READY');
  }, 60_000);

  it('refuses bad input and anything over the limits with 400', async () => {
    const w = await workspace();
    const tooBig = await createAttachment(w.owner, w.ownersTask, { filename: 'big.iso', contentType: 'application/octet-stream', sizeBytes: String(MAX_BYTES + 1) });
    expect([tooBig.status, tooBig.body.code]).toEqual([400, 3]);
    expect(JSON.stringify(tooBig.body.details)).toContain('attachment.size_bytes');
    const badName = await createAttachment(w.owner, w.ownersTask, { filename: '../../etc/passwd', contentType: 'text/plain', sizeBytes: '1' });
    expect([badName.status, badName.body.code]).toEqual([400, 3]);
    expect(JSON.stringify(badName.body.details)).toContain('attachment.filename');
    const badType = await createAttachment(w.owner, w.ownersTask, { filename: 'x', contentType: 'not a type', sizeBytes: '1' });
    expect(JSON.stringify(badType.body.details)).toContain('attachment.content_type');

    for (let i = 0; i < MAX_PER_TASK; i++) {
      expect((await createAttachment(w.owner, w.ownersTask, { filename: `f${i}.txt`, contentType: 'text/plain', sizeBytes: '1' })).status).toBe(200);
    }
    const oneTooMany = await createAttachment(w.owner, w.ownersTask, { filename: 'more.txt', contentType: 'text/plain', sizeBytes: '1' });
    expect([oneTooMany.status, oneTooMany.body.code]).toEqual([400, 9]);
    expect(JSON.stringify(oneTooMany.body)).toContain('ATTACHMENT_LIMIT_REACHED');
    // Other tasks have their own count.
    expect((await createAttachment(w.owner, w.memberATask, { filename: 'ok.txt', contentType: 'text/plain', sizeBytes: '1' })).status).toBe(200);
    expect(JSON.stringify(oneTooMany.body)).not.toMatch(/select|insert|at .*\.ts/i);
  }, 60_000);

  it('lets OWNER/ADMIN attach anywhere and a MEMBER only to tasks they may update; VIEWERs read only', async () => {
    const w = await workspace();
    const file = { filename: 'r.txt', contentType: 'text/plain', sizeBytes: '1' };
    expect((await createAttachment(w.memberA, w.memberATask, file)).status).toBe(200);
    const notTheirs = await createAttachment(w.memberB, w.memberATask, file);
    expect([notTheirs.status, notTheirs.body.code]).toEqual([403, 7]);
    const viewer = await createAttachment(w.viewer, w.ownersTask, file);
    expect([viewer.status, viewer.body.code]).toEqual([403, 7]);
    expect((await createAttachment(w.owner, w.memberATask, file)).status).toBe(200);

    // Once assigned, member B may.
    await w.owner.api.task.updateTask({ task: { name: w.memberATask, assignees: [w.memberB.user] }, updateMask: 'assignees' });
    expect((await createAttachment(w.memberB, w.memberATask, file)).status).toBe(200);

    // Deleting and completing follow the same rule.
    const name = await readyAttachment(w.owner, w.ownersTask, 'x');
    expect((await rest(w.memberA.token, 'DELETE', name)).status).toBe(403);
    expect((await rest(w.viewer.token, 'DELETE', name)).status).toBe(403);
    expect((await rest(w.memberA.token, 'POST', `${name}:complete`, {})).status).toBe(403);
    expect((await rest(w.viewer.token, 'GET', `${w.ownersTask}/attachments`)).status).toBe(200);
  }, 60_000);

  it("never reveals another organization's attachments: a stranger gets the same 404 as for ids that do not exist", async () => {
    const w = await workspace();
    const name = await readyAttachment(w.owner, w.ownersTask, 'confidential');
    const stranger = await signUpAs(stack.url, 'stranger');
    const ownOrg = (await stranger.api.org.createOrganization({ organization: { displayName: 'Elsewhere' } })).organization!.name;
    const unknown = name.replace(/attachments\/[0-9a-f-]+$/, 'attachments/00000000-0000-4000-8000-000000000000');
    const normalise = (reply: Reply) => ({ status: reply.status, code: reply.body.code, message: String(reply.body.message).replace(/[0-9a-f-]{36}/g, 'ID') });
    for (const [method, path, body] of [
      ['GET', name, undefined],
      ['DELETE', name, undefined],
      ['POST', `${name}:complete`, {}],
      ['GET', `${w.ownersTask}/attachments`, undefined],
      ['POST', `${w.ownersTask}/attachments`, { filename: 'x', contentType: 'text/plain', sizeBytes: '1' }],
    ] as const) {
      const existing = await rest(stranger.token, method, path, body);
      expect([existing.status, existing.body.code], `${method} ${path}`).toEqual([404, 5]);
      const other = await rest(stranger.token, method, path.replace(name, unknown), body);
      expect(normalise(existing)).toEqual(normalise(other));
      expect(JSON.stringify(existing.body)).not.toContain('confidential');
    }
    // The stranger's own org in the path, the other org's task and attachment ids: still nothing.
    const transplanted = name.replace(w.org, ownOrg);
    const moved = await rest(stranger.token, 'GET', transplanted);
    expect([moved.status, moved.body.code]).toEqual([404, 5]);
    // The attachment is still there for its own org.
    expect((await rest(w.owner.token, 'GET', name)).status).toBe(200);
  }, 60_000);

  it('deleting an attachment removes its object', async () => {
    const w = await workspace();
    const name = await readyAttachment(w.owner, w.ownersTask, 'to be deleted');
    const downloadUrl = (await rest(w.owner.token, 'GET', name)).body.downloadUrl as string;
    expect((await fetch(downloadUrl)).status).toBe(200);
    const deleted = await rest(w.owner.token, 'DELETE', name);
    expect([deleted.status, deleted.body]).toEqual([200, {}]);
    expect((await rest(w.owner.token, 'GET', name)).status).toBe(404);
    await eventually(async () => (await fetch(downloadUrl)).status === 404, 'the object to be gone');
  }, 60_000);

  it("deleting a task removes its attachments' objects (TaskDeleted consumed from the event bus)", async () => {
    const w = await workspace();
    const name = await readyAttachment(w.memberA, w.memberATask, 'goes with the task');
    const downloadUrl = (await rest(w.memberA.token, 'GET', name)).body.downloadUrl as string;
    expect((await fetch(downloadUrl)).status).toBe(200);
    expect((await rest(w.memberA.token, 'DELETE', w.memberATask)).status).toBe(200);
    await eventually(async () => (await fetch(downloadUrl)).status === 404, 'the object of the deleted task to be gone');
    expect((await rest(w.owner.token, 'GET', name)).status).toBe(404);
    // The owner's task keeps its attachments.
    const kept = await readyAttachment(w.owner, w.ownersTask, 'stays');
    expect((await rest(w.owner.token, 'GET', kept)).status).toBe(200);
  }, 60_000);

  it('writes one audit entry per create, complete and delete, naming the actor and the attachment', async () => {
    const w = await workspace();
    const name = await readyAttachment(w.memberA, w.memberATask, 'audited');
    expect((await rest(w.memberA.token, 'DELETE', name)).status).toBe(200);
    const entries = await eventually(async () => {
      const res = await rest(w.owner.token, 'GET', `${w.org}/auditEvents?resource=${encodeURIComponent(name)}`);
      return res.body.auditEvents?.length === 3 && res.body.auditEvents;
    }, 'three audit entries of the attachment');
    expect(entries.map((e: { eventType: string }) => e.eventType)).toEqual([
      'taskmesh.attachment.v1.AttachmentDeleted',
      'taskmesh.attachment.v1.AttachmentCompleted',
      'taskmesh.attachment.v1.AttachmentCreated',
    ]);
    for (const entry of entries) expect(entry).toMatchObject({ actor: w.memberA.user, resource: name });
  }, 60_000);

  it("deleting an organization removes its objects once the org's retention has passed", async () => {
    const w = await workspace();
    const name = await readyAttachment(w.owner, w.ownersTask, 'org data');
    const downloadUrl = (await rest(w.owner.token, 'GET', name)).body.downloadUrl as string;
    expect((await rest(w.owner.token, 'DELETE', w.org)).status).toBe(200);
    const orgId = w.org.slice('organizations/'.length);
    const sql = new pg.Client({ connectionString: db.databaseUrl });
    await sql.connect();
    try {
      // OrganizationDeleted schedules the purge ORG_RETENTION_DAYS (30) ahead; until then the object stays.
      const due = await eventually(async () => {
        const res = await sql.query('select due_at from attachment.org_purges where org_id = $1', [orgId]);
        return res.rows[0]?.due_at as Date | undefined;
      }, 'the purge of the deleted org to be scheduled');
      expect(due.getTime() - Date.now()).toBeGreaterThan(29 * 86_400_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect((await fetch(downloadUrl)).status).toBe(200);
      // The retention passes (moved, not waited for): the next purge run removes rows and objects.
      await sql.query("update attachment.org_purges set due_at = now() - interval '1 second' where org_id = $1", [orgId]);
      await eventually(async () => (await fetch(downloadUrl)).status === 404, 'the objects of the purged org to be gone');
      const left = await sql.query('select count(*)::int as n from attachment.attachments where org_id = $1', [orgId]);
      expect(left.rows[0].n).toBe(0);
    } finally {
      await sql.end();
    }
  }, 60_000);

  it('row-level security hides attachments from the app role unless the transaction is bound to their org', async () => {
    const w = await workspace();
    await readyAttachment(w.owner, w.ownersTask, 'walled');
    const orgId = w.org.slice('organizations/'.length);
    const sql = new pg.Client({ connectionString: db.databaseUrl });
    await sql.connect();
    try {
      await sql.query('begin');
      await sql.query('set local role taskmesh_app');
      const unbound = await sql.query('select count(*)::int as n from attachment.attachments');
      expect(unbound.rows[0].n).toBe(0);
      await sql.query("select set_config('app.org_id', $1, true)", [orgId]);
      const bound = await sql.query('select count(*)::int as n, count(distinct org_id)::int as orgs from attachment.attachments');
      expect(bound.rows[0]).toEqual({ n: 1, orgs: 1 });
      // Nor can it write a row into another org than the bound one.
      await expect(
        sql.query(
          `insert into attachment.attachments (id, org_id, board_id, task_id, filename, content_type, size_bytes, state, object_key, created_by, created_at)
           values (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 'x', 'text/plain', 1, 'PENDING', 'k-' || gen_random_uuid(), gen_random_uuid(), now())`,
        ),
      ).rejects.toThrow(/row-level security/);
    } finally {
      await sql.query('rollback').catch(() => undefined);
      await sql.end();
    }
  }, 60_000);
});
