import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { GrpcCode } from '@taskmesh/runtime/errors';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { codeOf, failure, reasonOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { createOrg, signUp } from '@taskmesh/runtime/testing/test-clients';
import { rowsContaining, superuserQuery } from '@taskmesh/runtime/testing/database-scan';
import { startAcceptingReceiver, type HttpReceiver } from '@taskmesh/runtime/testing/http-receiver';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { ApiError, createClient, type TaskmeshClient } from '../../../gen/client/index.ts';
import { apiError } from '../../edge/test/typed-client.ts';
import { ALL_SERVICES, edgeFront } from '../../embedded/src/services.ts';

/**
 * Account erasure (DELETE /v1/users/me) through the REST edge of the whole stack: real PostgreSQL, JetStream
 * when NATS answers, the embedded S3 store, a webhook receiver. The erased user's address, name, password
 * hash and device token digests must be gone from every table of every schema afterwards.
 */
const natsUrl = await natsForTests();
const PASSWORD = 'correct horse battery';

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
    overrides: { WEBHOOK_ALLOWED_HOSTS: receiver.host, WEBHOOK_POLL_MS: '100' },
  });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

interface Person {
  api: TaskmeshClient;
  user: string;
  email: string;
  displayName: string;
}

/** A new account with an address and a display name found nowhere else in the database. */
async function person(label: string): Promise<Person> {
  const tag = randomBytes(6).toString('hex');
  const email = `${label}-${tag}@example.com`;
  const displayName = `${label} Quillfeather ${tag}`;
  const res = await createClient({ baseUrl: stack.url }).identity.signUp({ email, password: PASSWORD, displayName });
  return { api: createClient({ baseUrl: stack.url, token: res.accessToken }), user: res.user!.name, email, displayName };
}

async function join(org: string, owner: Person, who: Person, role: 'ROLE_OWNER' | 'ROLE_MEMBER'): Promise<void> {
  const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: who.email, role } });
  await who.api.org.acceptInvitation({ token });
}

const query = <Row>(text: string, values: unknown[] = []) => superuserQuery<Row>(stack.db.databaseUrl, text, values);

describe('DELETE /v1/users/me', () => {
  it('leaves no personal data of the erased user in any table, and keeps their comments with a deleted author', async () => {
    const erased = await person('erasable');
    const colleague = await person('colleague');
    const newcomer = `friend-${randomBytes(6).toString('hex')}@example.com`;

    // Their own org, which a colleague co-owns, and the colleague's org, where they are a MEMBER.
    const org = (await erased.api.org.createOrganization({ organization: { displayName: 'Erasure Co' } })).organization!.name;
    await join(org, erased, colleague, 'ROLE_OWNER');
    const otherOrg = (await colleague.api.org.createOrganization({ organization: { displayName: 'Elsewhere' } })).organization!.name;
    await join(otherOrg, colleague, erased, 'ROLE_MEMBER');
    // Invitations they sent (pending) and received (pending, in a third org).
    await erased.api.org.createInvitation({ parent: org, invitation: { email: newcomer, role: 'ROLE_MEMBER' } });
    const thirdOrg = (await colleague.api.org.createOrganization({ organization: { displayName: 'Third' } })).organization!.name;
    await colleague.api.org.createInvitation({ parent: thirdOrg, invitation: { email: erased.email, role: 'ROLE_VIEWER' } });

    // Data everywhere: a webhook first, so it delivers what follows.
    await erased.api.webhook.createWebhook({ parent: org, webhook: { url: hookUrl, eventTypes: [] } });
    const board = (await erased.api.board.createBoard({ parent: org, board: { displayName: 'Plans' } })).board!.name;
    const list = (await erased.api.board.createList({ parent: board, list: { displayName: 'Now' } })).list!.name;
    const task = (await erased.api.task.createTask({ parent: board, task: { list, title: 'Ship it', assignees: [colleague.user] } })).task!;
    const theirs = (await colleague.api.task.createTask({ parent: board, task: { list, title: 'Review', assignees: [erased.user] } })).task!;
    await erased.api.task.updateTask({ task: { name: task.name, status: 'TASK_STATUS_IN_PROGRESS', etag: task.etag }, updateMask: 'status' });
    const comment = (await erased.api.task.createComment({ parent: theirs.name, comment: { body: 'Looks good to me' } })).comment!;
    await erased.api.share.createShareLink({ parent: task.name, shareLink: { password: 'share password 1' } });
    const bytes = new TextEncoder().encode('attached notes');
    const created = await erased.api.attachment.createAttachment({
      parent: task.name,
      attachment: { filename: 'notes.txt', contentType: 'text/plain', sizeBytes: String(bytes.length) },
    });
    expect((await fetch(created.uploadUrl, { method: 'PUT', headers: created.uploadHeaders, body: bytes })).status).toBe(200);
    await erased.api.attachment.completeAttachment({ name: created.attachment!.name });
    const { token: apiSecret } = await erased.api.org.createApiToken({ parent: org, apiToken: { displayName: 'ci', role: 'ROLE_MEMBER' } });
    const robot = createClient({ baseUrl: stack.url, token: apiSecret });
    expect((await robot.task.getTask({ name: task.name })).task!.name).toBe(task.name);
    // A failed log-in and a reset request leave throttling counters keyed by the address.
    const anonymous = createClient({ baseUrl: stack.url });
    await apiError(anonymous.identity.logIn({ email: erased.email, password: 'not the password at all' }));
    await anonymous.identity.requestPasswordReset({ email: erased.email });

    // Everything has reached its consumers: audit, notify's mail to them, the webhook's deliveries.
    await vi.waitFor(
      async () => {
        const audit = await colleague.api.audit.listAuditEvents({ parent: org, actor: erased.user, pageSize: 500 });
        expect(audit.auditEvents.map((e) => e.eventType)).toContain('taskmesh.attachment.v1.AttachmentCompleted');
        const mail = await query<{ n: number }>('select count(*)::int as n from notify.outgoing_mail where to_address = $1', [erased.email]);
        expect(mail[0]!.n).toBeGreaterThan(0);
        const deliveries = await query<{ n: number }>('select count(*)::int as n from webhook.deliveries', []);
        expect(deliveries[0]!.n).toBeGreaterThan(5);
      },
      { timeout: 30_000, interval: 200 },
    );
    const secrets = await query<{ value: string }>(
      `select password_hash as value from identity.users where id = $1
       union all select token_hash from identity.known_devices where user_id = $1`,
      [erased.user.slice('users/'.length)],
    );
    expect(secrets.length).toBeGreaterThan(1);
    const needles = [erased.email, erased.displayName, ...secrets.map((s) => s.value)];
    // The scan finds what is there: before the erasure, the address and the name are in several schemas.
    const before = await rowsContaining(stack.db.databaseUrl, needles);
    expect(new Set(before.map((r) => r.table.split('.')[0])).size).toBeGreaterThan(2);

    // Only the signed-in user can erase their account.
    expect((await apiError(anonymous.identity.deleteCurrentUser({}))).httpStatus).toBe(401);
    // The last OWNER of an org cannot go; once that org is deleted they can.
    const alone = (await erased.api.org.createOrganization({ organization: { displayName: 'Solo' } })).organization!.name;
    const refused = await apiError(erased.api.identity.deleteCurrentUser({}));
    expect(refused.httpStatus).toBe(400);
    expect(JSON.stringify(refused.details)).toContain('LAST_OWNER');
    await erased.api.org.deleteOrganization({ name: alone });

    expect(await erased.api.identity.deleteCurrentUser({})).toEqual({});

    // Their token is refused at once by identity and within a second by every other service.
    expect((await apiError(erased.api.identity.getCurrentUser({}))).httpStatus).toBe(401);
    await vi.waitFor(
      async () => {
        const err = await erased.api.task.getTask({ name: task.name }).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(ApiError);
        expect((err as ApiError).httpStatus).toBe(401);
      },
      { timeout: 1_000, interval: 50 },
    );
    expect((await apiError(anonymous.identity.logIn({ email: erased.email, password: PASSWORD }))).httpStatus).toBe(401);

    // Memberships end everywhere; then nothing personal is left in any table of any schema.
    await vi.waitFor(
      async () => {
        const members = await colleague.api.org.listMembers({ parent: otherOrg });
        expect(members.members.map((m) => m.user)).not.toContain(erased.user);
        expect(await rowsContaining(stack.db.databaseUrl, needles)).toEqual([]);
      },
      { timeout: 30_000, interval: 500 },
    );
    expect((await colleague.api.org.listMembers({ parent: org })).members.map((m) => m.user)).toEqual([colleague.user]);
    // The API tokens they made ended with their memberships (within the token cache's second).
    await vi.waitFor(async () => expect((await apiError(robot.task.getTask({ name: task.name }))).httpStatus).toBe(401), { timeout: 2_000, interval: 100 });

    // Past comments and audit entries stay, by users/{id}, whom identity names "Deleted user".
    const comments = await colleague.api.task.listComments({ parent: theirs.name });
    expect(comments.comments.find((c) => c.name === comment.name)).toMatchObject({ author: erased.user, body: 'Looks good to me' });
    const audit = await colleague.api.audit.listAuditEvents({ parent: org, actor: erased.user, pageSize: 500 });
    expect(audit.auditEvents.map((e) => e.eventType)).toContain('taskmesh.task.v1.TaskCreated');
    const identity = stack.clientOf(IdentityServiceClient);
    const { users } = await callUnary(identity, identity.batchGetUsers, { names: [erased.user] });
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ name: erased.user, email: '', displayName: 'Deleted user' });
    expect(users[0]!.deleteTime).toBeInstanceOf(Date);

    // The address is free again.
    const again = await createClient({ baseUrl: stack.url }).identity.signUp({ email: erased.email, password: PASSWORD, displayName: 'Back' });
    expect(again.user!.name).not.toBe(erased.user);
  }, 180_000);

  it('works over gRPC too: LAST_OWNER, then erased, then its token is refused', async () => {
    const identity = stack.clientOf(IdentityServiceClient);
    const orgs = stack.clientOf(OrgServiceClient);
    const owner = await signUp(stack, 'grpc-erasable');
    const org = await createOrg(stack, owner, 'Solo over gRPC');
    const refused = await failure(callUnary(identity, identity.deleteCurrentUser, {}, { metadata: owner.auth }));
    expect([refused.code, reasonOf(refused)]).toEqual([GrpcCode.FAILED_PRECONDITION, 'LAST_OWNER']);
    expect(refused.message).toContain('last owner');
    // The internal RPC behind that answer names the org.
    const { organizations } = await callUnary(orgs, orgs.listSoleOwnerships, { user: owner.name });
    expect(organizations).toEqual([org]);
    expect(await codeOf(callUnary(orgs, orgs.listSoleOwnerships, { user: 'users/not-a-user' }))).toBe(GrpcCode.INVALID_ARGUMENT);

    await callUnary(orgs, orgs.deleteOrganization, { name: org, etag: '' }, { metadata: owner.auth });
    expect((await callUnary(orgs, orgs.listSoleOwnerships, { user: owner.name })).organizations).toEqual([]);
    expect(await callUnary(identity, identity.deleteCurrentUser, {}, { metadata: owner.auth })).toEqual({});
    expect(await codeOf(callUnary(identity, identity.getCurrentUser, {}, { metadata: owner.auth }))).toBe(GrpcCode.UNAUTHENTICATED);
    expect(await codeOf(callUnary(identity, identity.deleteCurrentUser, {}, { metadata: owner.auth }))).toBe(GrpcCode.UNAUTHENTICATED);
    expect(await codeOf(callUnary(identity, identity.logIn, { email: owner.email, password: PASSWORD, deviceToken: '' }))).toBe(GrpcCode.UNAUTHENTICATED);
  }, 120_000);
});
