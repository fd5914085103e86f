import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { AttachmentServiceClient, ExportOrganizationResponse } from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import { OrgServiceClient, type ExportOrganizationDataResponse } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { createOrg, signUp } from '@taskmesh/runtime/testing/test-clients';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { eventually, readyAttachmentAt, restAt, type Reply } from './rest-helpers.ts';

/**
 * Organization export over REST through the edge of the whole stack (real PostgreSQL, JetStream when NATS
 * answers, the embedded S3-compatible server over HTTP): the operation is polled until done, the archive
 * downloaded with plain HTTP and compared record by record with what the API shows of the organization.
 */
const natsUrl = await natsForTests();

let dataDir: string;
let stack: TestStack;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'wt-export-rest-'));
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: { TASKMESH_DATA_DIR: dataDir, SIGNUP_MAX_PER_ADDRESS: '1000' },
  });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const rest = (token: string, method: string, path: string, body?: unknown): Promise<Reply> => restAt(stack.url, token, method, path, body);

type User = Awaited<ReturnType<typeof signUpAs>>;
type Json = Record<string, any>;

const byName = (a: Json, b: Json) => String(a.name).localeCompare(String(b.name));

/** Every item of a paged REST list. */
async function all(user: User, path: string, field: string): Promise<Json[]> {
  const items: Json[] = [];
  let pageToken = '';
  do {
    const reply = await rest(user.token, 'GET', `${path}?pageSize=500${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`);
    expect(reply.status).toBe(200);
    items.push(...((reply.body[field] as Json[] | undefined) ?? []));
    pageToken = reply.body.nextPageToken ?? '';
  } while (pageToken);
  return items;
}

const readyAttachment = (user: User, task: string, bytes: Uint8Array, filename: string): Promise<string> =>
  readyAttachmentAt(stack.url, user.token, task, bytes, { filename, contentType: 'application/octet-stream' });

/** An org with a member in each role, two boards with lists, tasks, comments, attachments and audit entries. */
async function workspace() {
  const owner = await signUpAs(stack.url, 'owner');
  const admin = await signUpAs(stack.url, 'admin');
  const member = await signUpAs(stack.url, 'member');
  const viewer = await signUpAs(stack.url, 'viewer');
  const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Exported' } })).organization!.name;
  for (const [user, role] of [[admin, 'ROLE_ADMIN'], [member, 'ROLE_MEMBER'], [viewer, 'ROLE_VIEWER']] as const) {
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: user.email, role } });
    await user.api.org.acceptInvitation({ token });
  }
  const boards: string[] = [];
  const tasks: string[] = [];
  for (const title of ['Roadmap', 'Support']) {
    const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: title } })).board!.name;
    boards.push(board);
    const todo = (await owner.api.board.createList({ parent: board, list: { displayName: 'To do' } })).list!.name;
    await owner.api.board.createList({ parent: board, list: { displayName: 'Done' } });
    for (const [user, taskTitle] of [[owner, `${title}: plan`], [member, `${title}: ship`]] as const) {
      const task = (await user.api.task.createTask({ parent: board, task: { list: todo, title: taskTitle, priority: 'PRIORITY_HIGH', labels: ['x'] } })).task!.name;
      tasks.push(task);
    }
  }
  for (const task of tasks.slice(0, 3)) {
    await owner.api.task.createComment({ parent: task, comment: { body: `looked at ${task.slice(-6)}` } });
    await member.api.task.createComment({ parent: task, comment: { body: 'me too ✓' } });
  }
  // Bytes that are not UTF-8, more than two content chunks (768 KiB each) of them, and a small text.
  const binary = Uint8Array.from({ length: 2 * 768 * 1024 + 1234 }, (_, i) => (i * 37 + (i >> 10)) % 256);
  const text = new TextEncoder().encode('minutes of the kick-off\n');
  const attachments = new Map<string, Uint8Array>();
  attachments.set(await readyAttachment(owner, tasks[0]!, binary, 'blob.bin'), binary);
  attachments.set(await readyAttachment(member, tasks[1]!, text, 'minutes.txt'), text);
  // A deleted board: neither it nor anything under it is exported, as the API no longer shows them.
  const gone = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'Gone' } })).board!.name;
  const goneList = (await owner.api.board.createList({ parent: gone, list: { displayName: 'L' } })).list!.name;
  const goneTask = (await owner.api.task.createTask({ parent: gone, task: { list: goneList, title: 'gone', priority: 'PRIORITY_LOW' } })).task!.name;
  await owner.api.task.createComment({ parent: goneTask, comment: { body: 'gone too' } });
  await readyAttachment(owner, goneTask, text, 'gone.txt');
  expect((await rest(owner.token, 'DELETE', gone)).status).toBe(200);
  // A pending attachment: exported as metadata only.
  const pending = await rest(owner.token, 'POST', `${tasks[2]}/attachments`, { filename: 'later.txt', contentType: 'text/plain', sizeBytes: '5' });
  expect(pending.status).toBe(200);
  return { owner, admin, member, viewer, org, boards, tasks, attachments, gone, pending: pending.body.attachment.name as string };
}

/** Starts an export as `user` and polls it until done; the finished operation. */
async function exportAndWait(user: User, org: string): Promise<Json> {
  const started = await rest(user.token, 'POST', `${org}:export`, {});
  expect(started.status).toBe(200);
  expect(started.body.name).toMatch(/^operations\/[0-9a-f-]{36}\.[0-9a-f-]{36}$/);
  expect(started.body.metadata).toMatchObject({
    '@type': 'type.googleapis.com/taskmesh.attachment.v1.ExportOrganizationMetadata',
    organization: org,
    requester: user.user,
  });
  return eventually(async () => {
    const polled = await rest(user.token, 'GET', started.body.name);
    expect(polled.status).toBe(200);
    return polled.body.done ? polled.body : undefined;
  }, 'the export to finish', 120_000);
}

interface Archive {
  header: Json;
  records: { type: string; data: Json }[];
  trailer: { type: string; data: Json };
}

async function download(url: string): Promise<{ archive: Archive; response: Response; bytes: Buffer }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const lines = gunzipSync(bytes).toString('utf8').split('\n');
  expect(lines.pop()).toBe('');
  const parsed = lines.map((line) => JSON.parse(line) as Json);
  return {
    archive: { header: parsed[0]!, records: parsed.slice(1, -1) as Archive['records'], trailer: parsed[parsed.length - 1] as Archive['trailer'] },
    response,
    bytes,
  };
}

describe('organization export over REST', () => {
  it('writes one archive that round-trips with the API: org, members, boards, lists, tasks, comments, attachments and objects, audit log', async () => {
    const w = await workspace();
    // Audit entries arrive through the event stream: wait for the last change of each producing service.
    await eventually(async () => {
      const counts = new Map<string, number>();
      for (const e of await all(w.owner, `${w.org}/auditEvents`, 'auditEvents')) counts.set(e.eventType, (counts.get(e.eventType) ?? 0) + 1);
      const expected = {
        'taskmesh.org.v1.InvitationAccepted': 3,
        'taskmesh.board.v1.BoardCreated': 3,
        'taskmesh.board.v1.BoardDeleted': 1,
        'taskmesh.board.v1.ListCreated': 5,
        'taskmesh.task.v1.TaskCreated': 5,
        'taskmesh.task.v1.CommentAdded': 7,
        'taskmesh.attachment.v1.AttachmentCreated': 4,
        'taskmesh.attachment.v1.AttachmentCompleted': 3,
      };
      return Object.entries(expected).every(([type, n]) => counts.get(type) === n) || undefined;
    }, 'the audit entries', 60_000);

    const done = await exportAndWait(w.owner, w.org);
    expect(done.error).toBeUndefined();
    expect(done.metadata).toMatchObject({ state: 'STATE_SUCCEEDED', organization: w.org, requester: w.owner.user });
    expect(done.metadata.endTime).toMatch(/Z$/);
    expect(done.response['@type']).toBe('type.googleapis.com/taskmesh.attachment.v1.ExportOrganizationResponse');

    // The URL is signed for one hour, and expireTime says so.
    const url = new URL(done.response.downloadUrl);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('3600');
    const signedAt = Date.parse(url.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    expect(Date.parse(done.response.expireTime) - signedAt).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(Date.parse(done.response.expireTime) - signedAt).toBeLessThanOrEqual(3_600_000 + 1_000);

    const { archive, response, bytes } = await download(done.response.downloadUrl);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="taskmesh-export-/);
    expect(String(bytes.length)).toBe(done.response.sizeBytes);
    expect(archive.header).toMatchObject({ format: 'taskmesh.export', version: 1, organization: w.org, operation: done.name, requester: w.owner.user });
    expect(archive.trailer).toEqual({ type: 'end', data: { recordCount: archive.records.length } });
    expect(done.metadata.recordCount).toBe(String(archive.records.length));

    const of = (type: string) => archive.records.filter((r) => r.type === type).map((r) => r.data);
    const outside = archive.records.filter((r) => r.type !== 'auditEvent' && JSON.stringify(r.data).includes(w.gone));
    expect(outside).toEqual([]);
    expect(new Set(archive.records.map((r) => r.type))).toEqual(
      new Set(['organization', 'member', 'board', 'list', 'task', 'comment', 'attachment', 'attachmentContent', 'auditEvent']),
    );

    // Record by record, as the API shows them.
    expect(of('organization')).toEqual([(await rest(w.owner.token, 'GET', w.org)).body.organization]);
    expect(of('member').sort(byName)).toEqual((await all(w.owner, `${w.org}/members`, 'members')).sort(byName));
    expect(of('member')).toHaveLength(4);
    expect(of('board').sort(byName)).toEqual((await all(w.owner, `${w.org}/boards`, 'boards')).sort(byName));
    const lists: Json[] = [];
    const tasks: Json[] = [];
    for (const board of w.boards) {
      lists.push(...(await all(w.owner, `${board}/lists`, 'lists')));
      tasks.push(...(await all(w.owner, `${board}/tasks`, 'tasks')));
    }
    expect(of('list').sort(byName)).toEqual(lists.sort(byName));
    expect(of('list')).toHaveLength(4);
    expect(of('task').sort(byName)).toEqual(tasks.sort(byName));
    expect(of('task')).toHaveLength(4);
    const comments: Json[] = [];
    const attachments: Json[] = [];
    for (const task of w.tasks) {
      comments.push(...(await all(w.owner, `${task}/comments`, 'comments')));
      attachments.push(...(await all(w.owner, `${task}/attachments`, 'attachments')));
    }
    expect(of('comment').sort(byName)).toEqual(comments.sort(byName));
    expect(of('comment')).toHaveLength(6);
    expect(of('attachment').sort(byName)).toEqual(attachments.sort(byName));
    expect(of('attachment').map((a) => a.state).sort()).toEqual(['STATE_PENDING', 'STATE_READY', 'STATE_READY']);
    // The export's own audit entry may land before or after the audit log was read: it is compared apart.
    const notThisExport = (e: Json) => e.resource !== done.name;
    expect(of('auditEvent').filter(notThisExport).sort(byName)).toEqual(
      (await all(w.owner, `${w.org}/auditEvents`, 'auditEvents')).filter(notThisExport).sort(byName),
    );
    const requested = await eventually(
      async () => (await all(w.owner, `${w.org}/auditEvents`, 'auditEvents')).find((e) => e.resource === done.name),
      'the export in the audit log',
      60_000,
    );
    expect(requested).toMatchObject({ eventType: 'taskmesh.attachment.v1.OrganizationExportRequested', actor: w.owner.user });

    // Objects: the chunks of each READY attachment put back together are its bytes, as the store serves them too.
    const contents = new Map<string, Buffer>();
    for (const chunk of of('attachmentContent')) {
      const sofar = contents.get(chunk.attachment) ?? Buffer.alloc(0);
      expect(chunk.offset).toBe(String(sofar.length));
      contents.set(chunk.attachment, Buffer.concat([sofar, Buffer.from(chunk.content, 'base64')]));
    }
    expect([...contents.keys()].sort()).toEqual([...w.attachments.keys()].sort());
    expect(of('attachmentContent').map((c) => c.offset)).toEqual(['0', String(768 * 1024), String(2 * 768 * 1024), '0']);
    for (const [name, expected] of w.attachments) {
      expect(contents.get(name)!.equals(Buffer.from(expected))).toBe(true);
      const served = await fetch((await rest(w.owner.token, 'GET', name)).body.downloadUrl);
      expect(Buffer.from(await served.arrayBuffer()).equals(contents.get(name)!)).toBe(true);
    }
    expect(contents.has(w.pending)).toBe(false);

    // The operation is listed for the org, with a fresh URL to the same archive.
    const listed = await rest(w.owner.token, 'GET', `${w.org}/operations`);
    expect(listed.status).toBe(200);
    expect(listed.body.operations.map((o: Json) => o.name)).toEqual([done.name]);
    expect(listed.body.operations[0]).toMatchObject({ done: true, metadata: { state: 'STATE_SUCCEEDED' }, response: { sizeBytes: done.response.sizeBytes } });
    const again = await fetch(listed.body.operations[0].response.downloadUrl);
    expect(Buffer.from(await again.arrayBuffer()).equals(bytes)).toBe(true);

    // A tampered URL is refused by the store.
    const tampered = new URL(done.response.downloadUrl);
    tampered.searchParams.set('X-Amz-Expires', '86400');
    expect((await fetch(tampered)).status).toBe(403);
  }, 300_000);

  it('is for OWNERs only: ADMIN, MEMBER and VIEWER get 403, another organization\'s owner 404, a stranger\'s name 400', async () => {
    const w = await workspace();
    for (const user of [w.admin, w.member, w.viewer]) {
      const refused = await rest(user.token, 'POST', `${w.org}:export`, {});
      expect(refused.status).toBe(403);
      expect(refused.body.details?.[0]?.reason).toBe('ROLE_NOT_ALLOWED');
      expect((await rest(user.token, 'GET', `${w.org}/operations`)).status).toBe(403);
    }
    const done = await exportAndWait(w.owner, w.org);
    for (const user of [w.admin, w.member, w.viewer]) expect((await rest(user.token, 'GET', done.name)).status).toBe(403);

    const stranger = await signUpAs(stack.url, 'stranger');
    await stranger.api.org.createOrganization({ organization: { displayName: 'Elsewhere' } });
    const notFound = [
      await rest(stranger.token, 'POST', `${w.org}:export`, {}),
      await rest(stranger.token, 'GET', done.name),
      await rest(stranger.token, 'GET', `${w.org}/operations`),
    ];
    expect(notFound.map((r) => r.status)).toEqual([404, 404, 404]);
    // Another org's operation reads exactly like one that never existed.
    const unknown = await rest(w.owner.token, 'GET', done.name.replace(/\.[0-9a-f-]{36}$/, '.00000000-0000-4000-8000-000000000000'));
    expect(unknown.status).toBe(404);
    expect((await rest(w.owner.token, 'GET', 'operations/not-an-operation')).status).toBe(400);
    expect(JSON.stringify(notFound.map((r) => r.body))).not.toMatch(/select|stack|at \w+ \(/i);
  }, 300_000);

  it('resumes an export whose worker stopped mid-way once its lease lapses, and fails one that used up its attempts', async () => {
    const owner = await signUpAs(stack.url, 'owner');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Restarted' } })).organization!.name;
    await owner.api.board.createBoard({ parent: org, board: { displayName: 'Kept' } });
    const orgId = org.slice('organizations/'.length);
    const userId = owner.user.slice('users/'.length);
    // What a process that died while exporting leaves behind: RUNNING, its queue row taken, the lease lapsed.
    const resumed = randomUUID();
    const exhausted = randomUUID();
    const sql = new pg.Client({ connectionString: stack.db.databaseUrl });
    await sql.connect();
    try {
      for (const [id, attempts] of [[resumed, 1], [exhausted, 3]] as const) {
        await sql.query(
          `insert into attachment.export_operations (id, org_id, requested_by, state, created_at, updated_at) values ($1, $2, $3, 'RUNNING', now(), now())`,
          [id, orgId, userId],
        );
        await sql.query(`insert into attachment.export_queue (operation_id, org_id, leased_until, attempts) values ($1, $2, now() - interval '1 second', $3)`, [
          id,
          orgId,
          attempts,
        ]);
      }
    } finally {
      await sql.end();
    }
    const finished = async (id: string) =>
      eventually(async () => {
        const polled = await rest(owner.token, 'GET', `operations/${orgId}.${id}`);
        expect(polled.status).toBe(200);
        return polled.body.done ? polled.body : undefined;
      }, `operation ${id}`, 120_000);

    const again = await finished(resumed);
    expect(again.metadata.state).toBe('STATE_SUCCEEDED');
    const { archive } = await download(again.response.downloadUrl);
    expect(archive.header.operation).toBe(`operations/${orgId}.${resumed}`);
    expect(archive.records.filter((r) => r.type === 'board').map((r) => r.data.displayName)).toEqual(['Kept']);

    const failed = await finished(exhausted);
    expect(failed.metadata.state).toBe('STATE_FAILED');
    expect(failed.response).toBeUndefined();
    expect(failed.error).toEqual({ code: 13, message: 'the export could not be written; start a new one', details: [] });
  }, 300_000);

  it("works over gRPC too; an owner's internal stream gives exactly one organization's records", async () => {
    const owner = await signUp(stack, 'grpc-owner');
    const org = await createOrg(stack, owner, 'Over gRPC');
    const other = await signUp(stack, 'grpc-other');
    await createOrg(stack, other, 'Other');
    const attachments = stack.clientOf(AttachmentServiceClient);
    const started = await callUnary(attachments, attachments.exportOrganization, { name: org }, { metadata: owner.auth });
    expect(started.metadata?.typeUrl).toBe('type.googleapis.com/taskmesh.attachment.v1.ExportOrganizationMetadata');
    const done = await eventually(async () => {
      const polled = await callUnary(attachments, attachments.getOperation, { name: started.name }, { metadata: owner.auth });
      return polled.done ? polled : undefined;
    }, 'the export over gRPC', 120_000);
    expect(done.response?.typeUrl).toBe('type.googleapis.com/taskmesh.attachment.v1.ExportOrganizationResponse');
    const response = ExportOrganizationResponse.decode(done.response!.value);
    expect(Number(response.sizeBytes)).toBeGreaterThan(0);
    expect(new URL(response.downloadUrl).searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(await codeOf(callUnary(attachments, attachments.getOperation, { name: started.name }, { metadata: other.auth }))).toBe(status.NOT_FOUND);
    expect(await codeOf(callUnary(attachments, attachments.exportOrganization, { name: org }, { metadata: other.auth }))).toBe(status.NOT_FOUND);

    // The org service's stream, as the worker reads it: this org and its one member, nothing of the other org.
    const orgs = stack.clientOf(OrgServiceClient);
    const records: ExportOrganizationDataResponse[] = [];
    for await (const record of orgs.exportOrganizationData({ name: org })) records.push(record as ExportOrganizationDataResponse);
    expect(records.map((r) => r.organization?.name ?? r.member?.name)).toEqual([org, `${org}/members/${owner.id}`]);
    const drain = async (name: string) => {
      for await (const _ of orgs.exportOrganizationData({ name })) void _;
    };
    expect(await codeOf(drain(`organizations/${randomUUID()}`))).toBe(status.NOT_FOUND);
    expect(await codeOf(drain('not-an-org'))).toBe(status.INVALID_ARGUMENT);
  }, 300_000);

  it('pages through owners with more records than one page (501 comments and their audit entries)', async () => {
    const owner = await signUpAs(stack.url, 'pages');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Many' } })).organization!.name;
    const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
    const list = (await owner.api.board.createList({ parent: board, list: { displayName: 'L' } })).list!.name;
    const task = (await owner.api.task.createTask({ parent: board, task: { list, title: 't', priority: 'PRIORITY_LOW' } })).task!.name;
    const COMMENTS = 501;
    for (let i = 0; i < COMMENTS; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, COMMENTS - i) }, (_, j) => owner.api.task.createComment({ parent: task, comment: { body: `comment ${i + j}` } })),
      );
    }
    await eventually(async () => {
      const added = (await all(owner, `${org}/auditEvents`, 'auditEvents')).filter((e) => e.eventType === 'taskmesh.task.v1.CommentAdded');
      return added.length === COMMENTS || undefined;
    }, 'the comments in the audit log', 120_000);

    const done = await exportAndWait(owner, org);
    const { archive } = await download(done.response.downloadUrl);
    const of = (type: string) => archive.records.filter((r) => r.type === type).map((r) => r.data);
    expect(of('comment')).toHaveLength(COMMENTS);
    expect(of('comment').sort(byName)).toEqual((await all(owner, `${task}/comments`, 'comments')).sort(byName));
    const notThisExport = (e: Json) => e.resource !== done.name;
    expect(of('auditEvent').filter(notThisExport).sort(byName)).toEqual(
      (await all(owner, `${org}/auditEvents`, 'auditEvents')).filter(notThisExport).sort(byName),
    );
    expect(of('auditEvent').length).toBeGreaterThan(COMMENTS);
  }, 300_000);
});
