import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import pg from 'pg';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { AttachmentServiceClient } from '@taskmesh/gen/taskmesh/attachment/v1/attachment_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { addMember, createOrg, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { attachmentService } from '../src/descriptor.ts';
import { ExportOperations } from '../src/db/export-operations.ts';
import { archiveKeyOf } from '../src/domain/export-rules.ts';
import type { ExportStage } from '../src/export/export-worker.ts';
import { eventually, restAt, type Reply } from './rest-helpers.ts';

/**
 * CancelOperation and DeleteOperation of organization exports, through the edge and over gRPC, on the whole
 * stack (real PostgreSQL, JetStream when NATS answers, the embedded S3-compatible server over HTTP). The
 * worker's checkpoint hook holds an export at a chosen stage, so a cancel lands while it runs, deterministically.
 */
const natsUrl = await natsForTests();

/** The next export to reach `stage` waits there until released. */
let hold: { stage: ExportStage; reached: (operationId: string) => void; release: Promise<void> } | undefined;

/** Every checkpoint an export passed, by operation id. */
const checkpoints = new Map<string, ExportStage[]>();

async function onExportCheckpoint(operationId: string, stage: ExportStage): Promise<void> {
  checkpoints.set(operationId, [...(checkpoints.get(operationId) ?? []), stage]);
  const held = hold;
  if (!held || held.stage !== stage) return;
  hold = undefined;
  held.reached(operationId);
  await held.release;
}

/** Arms the hold; `reached` resolves with the operation held, `release` lets it go on. */
function holdAt(stage: ExportStage): { reached: Promise<string>; release: () => void } {
  let release!: () => void;
  let reached!: (operationId: string) => void;
  const reachedPromise = new Promise<string>((resolve) => (reached = resolve));
  hold = { stage, reached, release: new Promise<void>((resolve) => (release = resolve)) };
  return { reached: reachedPromise, release };
}

let dataDir: string;
let stack: TestStack;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'wt-export-ops-'));
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: { TASKMESH_DATA_DIR: dataDir },
    inject: { attachment: { onExportCheckpoint } },
  });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const rest = (user: { token: string }, method: string, path: string, body?: unknown): Promise<Reply> => restAt(stack.url, user.token, method, path, body);
const running = () => stack.get(attachmentService);
/** Whether the archive object of `operation` (operations/{org}.{id}) is in the bucket. */
const archiveStored = async (operation: string): Promise<boolean> => {
  const [orgId, id] = operation.slice('operations/'.length).split('.') as [string, string];
  return (await running().store.stat(archiveKeyOf(orgId, id))) !== undefined;
};
/** Waits until the worker is idle (the run in progress, if any, has ended). */
const workerIdle = () => running().exportWorker.nudge();

async function ownedOrg(label: string): Promise<{ owner: TestUser; org: string }> {
  const owner = await signUp(stack, label);
  const org = await createOrg(stack, owner, label);
  return { owner, org };
}

async function startExport(owner: TestUser, org: string): Promise<string> {
  const started = await rest(owner, 'POST', `${org}:export`, {});
  expect(started.status).toBe(200);
  return started.body.name as string;
}

async function finished(owner: TestUser, operation: string): Promise<Record<string, any>> {
  return eventually(async () => {
    const polled = await rest(owner, 'GET', operation);
    expect(polled.status).toBe(200);
    return polled.body.done ? polled.body : undefined;
  }, `${operation} to finish`, 120_000);
}

async function auditedAs(owner: TestUser, org: string, operation: string, eventType: string): Promise<Record<string, any>> {
  return eventually(async () => {
    const page = await rest(owner, 'GET', `${org}/auditEvents?pageSize=500`);
    return (page.body.auditEvents as Record<string, any>[] | undefined)?.find((e) => e.resource === operation && e.eventType === eventType);
  }, `${eventType} in the audit log`, 60_000);
}

const CANCELLED_ERROR = { code: 1, message: 'the export was cancelled', details: [] };

describe('cancelling and deleting export operations over REST', () => {
  it('cancels a running export: it stops at its next page, ends done with CANCELLED, leaves nothing in the bucket, and is audited', async () => {
    const { owner, org } = await ownedOrg('cancel-running');
    const held = holdAt('records');
    const operation = await startExport(owner, org);
    expect(await held.reached).toBe(operation.split('.')[1]);
    const before = await rest(owner, 'GET', operation);
    expect(before.body).toMatchObject({ done: false, metadata: { state: 'STATE_RUNNING' } });

    const cancelled = await rest(owner, 'POST', `${operation}:cancel`, {});
    expect(cancelled).toEqual({ status: 200, body: {} });
    const after = await rest(owner, 'GET', operation);
    expect(after.body).toMatchObject({ done: true, error: CANCELLED_ERROR, metadata: { state: 'STATE_CANCELLED' } });
    expect(after.body.response).toBeUndefined();
    expect(after.body.metadata.endTime).toMatch(/Z$/);

    held.release();
    await workerIdle();
    expect(await archiveStored(operation)).toBe(false);
    // It stopped at the checkpoint where the cancel found it: nothing more was read, nothing uploaded.
    expect(checkpoints.get(operation.split('.')[1]!)).toEqual(['records']);
    // The worker did not overwrite the outcome, and the org may export again at once.
    expect((await rest(owner, 'GET', operation)).body).toEqual(after.body);
    const next = await startExport(owner, org);
    expect(next).not.toBe(operation);
    expect((await finished(owner, next)).metadata.state).toBe('STATE_SUCCEEDED');

    const listed = await rest(owner, 'GET', `${org}/operations`);
    expect(listed.body.operations.map((o: Record<string, any>) => [o.name, o.metadata.state])).toEqual([
      [next, 'STATE_SUCCEEDED'],
      [operation, 'STATE_CANCELLED'],
    ]);
    expect(await auditedAs(owner, org, operation, 'taskmesh.attachment.v1.OrganizationExportCancelled')).toMatchObject({ actor: owner.name });

    // Cancelling it again, or cancelling a finished export, is a no-op that succeeds.
    expect(await rest(owner, 'POST', `${operation}:cancel`, {})).toEqual({ status: 200, body: {} });
    expect((await rest(owner, 'GET', operation)).body).toEqual(after.body);
    const done = await rest(owner, 'GET', next);
    expect(await rest(owner, 'POST', `${next}:cancel`, {})).toEqual({ status: 200, body: {} });
    const still = await rest(owner, 'GET', next);
    expect(still.body).toMatchObject({ done: true, metadata: done.body.metadata, response: { sizeBytes: done.body.response.sizeBytes } });
    expect(still.body.error).toBeUndefined();
    expect((await fetch(still.body.response.downloadUrl)).status).toBe(200);
  }, 300_000);

  it('stops an export cancelled by another replica at its next checkpoint (the queue row is gone)', async () => {
    const { owner, org } = await ownedOrg('cancel-elsewhere');
    const held = holdAt('records');
    const operation = await startExport(owner, org);
    const id = await held.reached;
    // What CancelOperation commits in another process: this process's worker is not told.
    const orgId = org.slice('organizations/'.length);
    const elsewhere = new ExportOperations(running().db.em, 24);
    expect(await elsewhere.cancel(forkForOrg(running().db.em, orgId), orgId, id, owner.id)).toBe(true);
    held.release();
    await workerIdle();
    expect(checkpoints.get(id)).toEqual(['records']);
    expect(await archiveStored(operation)).toBe(false);
    expect((await rest(owner, 'GET', operation)).body).toMatchObject({ done: true, error: CANCELLED_ERROR, metadata: { state: 'STATE_CANCELLED' } });
  }, 300_000);

  it('removes an archive already uploaded when the cancel lands before the export is recorded', async () => {
    const { owner, org } = await ownedOrg('cancel-uploaded');
    const held = holdAt('uploaded');
    const operation = await startExport(owner, org);
    await held.reached;
    expect(await archiveStored(operation)).toBe(true);
    expect((await rest(owner, 'POST', `${operation}:cancel`, {})).status).toBe(200);
    held.release();
    await workerIdle();
    await eventually(async () => !(await archiveStored(operation)), 'the uploaded archive to be deleted', 30_000);
    expect((await rest(owner, 'GET', operation)).body).toMatchObject({ done: true, error: CANCELLED_ERROR, metadata: { state: 'STATE_CANCELLED' } });
  }, 300_000);

  it('deletes a done operation with its archive; refuses one still running; another org, an unknown id and other roles get nothing', async () => {
    const { owner, org } = await ownedOrg('delete');
    const roles = await Promise.all((['admin', 'member', 'viewer'] as const).map((label) => signUp(stack, label)));
    await addMember(stack, org, owner, roles[0]!, Role.ROLE_ADMIN);
    await addMember(stack, org, owner, roles[1]!, Role.ROLE_MEMBER);
    await addMember(stack, org, owner, roles[2]!, Role.ROLE_VIEWER);
    const stranger = await ownedOrg('stranger');

    const done = await finished(owner, await startExport(owner, org));
    expect(done.metadata.state).toBe('STATE_SUCCEEDED');
    expect(await archiveStored(done.name)).toBe(true);

    for (const user of roles) {
      for (const [method, path] of [['POST', `${done.name}:cancel`], ['DELETE', done.name]] as const) {
        const refused = await rest(user, method, path, method === 'POST' ? {} : undefined);
        expect(refused.status, `${method} ${path}`).toBe(403);
        expect(refused.body.details?.[0]?.reason).toBe('ROLE_NOT_ALLOWED');
      }
    }
    // Another org's operation answers exactly as an id that never existed.
    const unknown = done.name.replace(/\.[0-9a-f-]{36}$/, '.00000000-0000-4000-8000-000000000000');
    const hidden = [
      await rest(stranger.owner, 'POST', `${done.name}:cancel`, {}),
      await rest(stranger.owner, 'DELETE', done.name),
      await rest(owner, 'POST', `${unknown}:cancel`, {}),
      await rest(owner, 'DELETE', unknown),
    ];
    expect(hidden.map((r) => r.status)).toEqual([404, 404, 404, 404]);
    expect(JSON.stringify(hidden.map((r) => r.body))).not.toMatch(/select|stack|at \w+ \(/i);
    expect((await rest(owner, 'DELETE', 'operations/not-an-operation')).status).toBe(400);
    expect(await archiveStored(done.name)).toBe(true);

    // Running: refused until cancelled, then deleted.
    const held = holdAt('records');
    const live = await startExport(owner, org);
    await held.reached;
    const refused = await rest(owner, 'DELETE', live);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 9, details: [{ reason: 'OPERATION_NOT_DONE' }] });
    expect((await rest(owner, 'GET', live)).body.done).toBe(false);
    expect((await rest(owner, 'POST', `${live}:cancel`, {})).status).toBe(200);
    held.release();
    await workerIdle();
    expect(await rest(owner, 'DELETE', live)).toEqual({ status: 200, body: {} });

    // Done: the operation is forgotten and its archive is gone from the bucket before the answer.
    expect(await rest(owner, 'DELETE', done.name)).toEqual({ status: 200, body: {} });
    expect(await archiveStored(done.name)).toBe(false);
    expect((await fetch(done.response.downloadUrl)).status).toBe(404);
    expect((await rest(owner, 'GET', done.name)).status).toBe(404);
    expect((await rest(owner, 'DELETE', done.name)).status).toBe(404);
    expect((await rest(owner, 'POST', `${done.name}:cancel`, {})).status).toBe(404);
    expect((await rest(owner, 'GET', `${org}/operations`)).body.operations ?? []).toEqual([]);
    expect(await auditedAs(owner, org, done.name, 'taskmesh.attachment.v1.OrganizationExportDeleted')).toMatchObject({ actor: owner.name });
  }, 300_000);

  it('deletes archives past EXPORT_ARCHIVE_RETENTION_HOURS on the object-deletion schedule; the operation then has no download URL', async () => {
    const { owner, org } = await ownedOrg('retention');
    const done = await finished(owner, await startExport(owner, org));
    expect(done.response.downloadUrl).not.toBe('');
    const [orgId, id] = done.name.slice('operations/'.length).split('.') as [string, string];
    // As when the retention has passed: the archive's scheduled removal and expiry are now.
    const sql = new pg.Client({ connectionString: stack.db.databaseUrl });
    await sql.connect();
    try {
      const scheduled = await sql.query<{ at: Date }>('select next_attempt_at as at from attachment.object_deletions where object_key = $1', [archiveKeyOf(orgId, id)]);
      expect(scheduled.rows).toHaveLength(1);
      const hours = (scheduled.rows[0]!.at.getTime() - Date.parse(done.metadata.endTime)) / 3_600_000;
      expect(hours).toBeCloseTo(24, 3);
      await sql.query('update attachment.object_deletions set next_attempt_at = now() where object_key = $1', [archiveKeyOf(orgId, id)]);
      await sql.query('update attachment.export_operations set archive_expires_at = now() where id = $1', [id]);
    } finally {
      await sql.end();
    }
    await eventually(async () => !(await archiveStored(done.name)), 'the expired archive to be deleted', 30_000);
    const after = await rest(owner, 'GET', done.name);
    expect(after.body).toMatchObject({ done: true, metadata: { state: 'STATE_SUCCEEDED' }, response: { sizeBytes: done.response.sizeBytes } });
    expect(after.body.response.downloadUrl ?? '').toBe('');
  }, 300_000);
});

describe('cancelling and deleting export operations over gRPC', () => {
  it('answers as over REST: CANCELLED operation, FAILED_PRECONDITION while running, NOT_FOUND for another org', async () => {
    const { owner, org } = await ownedOrg('grpc-cancel');
    const other = await ownedOrg('grpc-other');
    const client = stack.clientOf(AttachmentServiceClient);
    const held = holdAt('records');
    const started = await callUnary(client, client.exportOrganization, { name: org }, { metadata: owner.auth });
    await held.reached;
    expect(await codeOf(callUnary(client, client.deleteOperation, { name: started.name }, { metadata: owner.auth }))).toBe(status.FAILED_PRECONDITION);
    expect(await codeOf(callUnary(client, client.cancelOperation, { name: started.name }, { metadata: other.owner.auth }))).toBe(status.NOT_FOUND);
    expect(await callUnary(client, client.cancelOperation, { name: started.name }, { metadata: owner.auth })).toEqual({});
    held.release();
    await workerIdle();
    const cancelled = await callUnary(client, client.getOperation, { name: started.name }, { metadata: owner.auth });
    expect(cancelled).toMatchObject({ done: true, error: { code: status.CANCELLED } });
    expect(cancelled.response).toBeUndefined();
    expect(await codeOf(callUnary(client, client.deleteOperation, { name: started.name }, { metadata: other.owner.auth }))).toBe(status.NOT_FOUND);
    expect(await callUnary(client, client.deleteOperation, { name: started.name }, { metadata: owner.auth })).toEqual({});
    expect(await codeOf(callUnary(client, client.getOperation, { name: started.name }, { metadata: owner.auth }))).toBe(status.NOT_FOUND);
  }, 300_000);
});

// The typed REST client has the two methods (generated from the descriptor).
describe('typed client', () => {
  it('cancels and deletes through gen/client', async () => {
    const owner = await signUpAs(stack.url, 'typed');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Typed' } })).organization!.name;
    const held = holdAt('records');
    const started = await owner.api.attachment.exportOrganization({ name: org });
    await held.reached;
    expect(await owner.api.attachment.cancelOperation({ name: started.name })).toEqual({});
    held.release();
    await workerIdle();
    expect(await owner.api.attachment.deleteOperation({ name: started.name })).toEqual({});
  }, 300_000);
});
