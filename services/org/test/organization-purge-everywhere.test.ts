import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rowsContaining, superuserQuery } from '@taskmesh/runtime/testing/database-scan';
import { startAcceptingReceiver, type HttpReceiver } from '@taskmesh/runtime/testing/http-receiver';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { signUpAs } from '../../edge/test/typed-client.ts';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';

/**
 * The purge of a deleted organization once its retention has passed, through the whole stack: real
 * PostgreSQL, JetStream when NATS answers, the embedded S3 server. Afterwards no table of any schema holds a
 * row naming the org, and the bucket holds no object of it.
 */
const natsUrl = await natsForTests();
// The embedded store's key pair, fixed here so the test can list the bucket.
const STORE_KEY = { accessKeyId: 'PURGETESTKEY', secretAccessKey: 'purge-test-secret-key' };
const BUCKET = 'taskmesh-attachments';

let stack: TestStack;
let receiver: HttpReceiver;
let hookUrl: string;

beforeAll(async () => {
  receiver = await startAcceptingReceiver();
  hookUrl = receiver.url('/hook');
  stack = await startTestStack({
    services: ALL_SERVICES,
    front: edgeFront,
    ...(natsUrl ? { natsUrl } : {}),
    overrides: {
      // The shortest retention there is; the test moves the deletion back past it instead of waiting.
      ORG_RETENTION_DAYS: '1',
      ORG_PURGE_INTERVAL_SECONDS: '1',
      WEBHOOK_ALLOWED_HOSTS: receiver.host,
      WEBHOOK_POLL_MS: '100',
      S3_ACCESS_KEY_ID: STORE_KEY.accessKeyId,
      S3_SECRET_ACCESS_KEY: STORE_KEY.secretAccessKey,
    },
  });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

describe('purging a deleted organization', () => {
  it('removes its rows from every schema and its objects from the bucket, and no other org loses anything', async () => {
    const owner = await signUpAs(stack.url, 'purge-owner');
    const member = await signUpAs(stack.url, 'purge-member');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'Doomed' } })).organization!.name;
    const orgId = org.slice('organizations/'.length);
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: member.email, role: 'ROLE_MEMBER' } });
    await member.api.org.acceptInvitation({ token });
    await owner.api.org.createInvitation({ parent: org, invitation: { email: 'pending-purge@example.com', role: 'ROLE_VIEWER' } });
    await owner.api.webhook.createWebhook({ parent: org, webhook: { url: hookUrl, eventTypes: [] } });
    await owner.api.org.createApiToken({ parent: org, apiToken: { displayName: 'ci', role: 'ROLE_MEMBER' } });
    const board = (await owner.api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
    const list = (await owner.api.board.createList({ parent: board, list: { displayName: 'L' } })).list!.name;
    const task = (await owner.api.task.createTask({ parent: board, task: { list, title: 'T', assignees: [member.user], dueTime: new Date(Date.now() + 3_600_000).toISOString() } })).task!;
    await member.api.task.createComment({ parent: task.name, comment: { body: 'noted' } });
    const link = await owner.api.share.createShareLink({ parent: task.name, shareLink: {} });
    expect((await fetch(`${stack.url}${new URL(link.url).pathname}`)).status).toBe(200);
    const bytes = new TextEncoder().encode('to be purged');
    const created = await owner.api.attachment.createAttachment({
      parent: task.name,
      attachment: { filename: 'a.txt', contentType: 'text/plain', sizeBytes: String(bytes.length) },
    });
    expect((await fetch(created.uploadUrl, { method: 'PUT', headers: created.uploadHeaders, body: bytes })).status).toBe(200);
    await owner.api.attachment.completeAttachment({ name: created.attachment!.name });

    // A neighbour org whose data must survive the purge.
    const neighbour = (await owner.api.org.createOrganization({ organization: { displayName: 'Survivor' } })).organization!.name;
    const neighbourBoard = (await owner.api.board.createBoard({ parent: neighbour, board: { displayName: 'Kept' } })).board!.name;

    const store = new S3Client({ endpoint: new URL(created.uploadUrl).origin, region: 'us-east-1', forcePathStyle: true, credentials: STORE_KEY });
    // The object through the S3 API, and every object of the org in the embedded server's bucket directory
    // (its signature check refuses the SDK's bucket listings).
    const key = created.attachment!.name.split('/').filter((_, i) => [1, 5, 7].includes(i)).join('/');
    const stored = () => store.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(() => true, () => false);
    const bucketDir = join(stack.db.dataDir, 'blobs', BUCKET);
    const objectsOfOrg = async () =>
      readdirSync(bucketDir, { recursive: true }).filter((path) => String(path).startsWith(orgId) && String(path).endsWith('._S3rver_object')).length;
    expect(await objectsOfOrg()).toBe(1);
    expect(await stored()).toBe(true);
    // Everything has reached its consumers before the org goes (audit, webhook deliveries, notify).
    await vi.waitFor(
      async () => {
        const audit = await owner.api.audit.listAuditEvents({ parent: org, pageSize: 500 });
        expect(audit.auditEvents.map((e) => e.eventType)).toContain('taskmesh.attachment.v1.AttachmentCompleted');
        const found = await rowsContaining(stack.db.databaseUrl, [orgId]);
        const schemas = new Set(found.map((r) => r.table.split('.')[0]));
        for (const schema of ['org', 'board', 'task', 'audit', 'notify', 'share', 'attachment', 'webhook']) expect(schemas).toContain(schema);
      },
      { timeout: 30_000, interval: 250 },
    );

    await owner.api.org.deleteOrganization({ name: org });
    // Deleted but within its retention: nothing is purged yet (the purge runs every second).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await objectsOfOrg()).toBe(1);
    expect((await superuserQuery(stack.db.databaseUrl, 'select 1 from task.tasks where org_id = $1', [orgId])).length).toBe(1);

    // The retention passes (moved back, not waited for): the next run purges it everywhere.
    await superuserQuery(stack.db.databaseUrl, "update org.organizations set deleted_at = now() - interval '2 days' where id = $1", [orgId]);
    await vi.waitFor(
      async () => {
        expect(await rowsContaining(stack.db.databaseUrl, [orgId])).toEqual([]);
        expect(await objectsOfOrg()).toBe(0);
        expect(await stored()).toBe(false);
      },
      { timeout: 60_000, interval: 500 },
    );

    // The neighbour is untouched.
    expect((await owner.api.board.getBoard({ name: neighbourBoard })).board!.displayName).toBe('Kept');
    expect((await owner.api.org.getOrganization({ name: neighbour })).organization!.displayName).toBe('Survivor');
  }, 240_000);
});
