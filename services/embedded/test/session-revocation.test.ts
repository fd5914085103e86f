import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateOrganizationRequest, OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { createInProcessBus } from '@taskmesh/runtime/events/in-process-bus';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { natsForTests } from '@taskmesh/runtime/testing/test-nats';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { loadOrgConfig } from '@taskmesh/org/config';
import { ORG_SERVICE_NAME, startOrg } from '@taskmesh/org/server';
import { IDENTITY_SERVICE_NAME } from '@taskmesh/identity/server';
import { ApiError, createClient, type TaskmeshClient } from '../../../gen/client/index.ts';
import { ALL_SERVICES, edgeFront } from '../src/services.ts';

/**
 * Ending a session reaches every service over REST within a second: identity publishes SessionsEnded through
 * its outbox, and each service's token check refuses the session from then on (in-process bus and JetStream).
 */
const natsUrl = await natsForTests();
const modes = natsUrl ? (['in-process', 'jetstream'] as const) : (['in-process'] as const);

const PASSWORD = 'correct horse battery';
let counter = 0;

describe.each(modes)('session revocation across services (%s events)', (mode) => {
  let stack: TestStack;
  const anonymous = () => createClient({ baseUrl: stack.url });
  const as = (token: string) => createClient({ baseUrl: stack.url, token });

  beforeAll(async () => {
    stack = await startTestStack({ services: ALL_SERVICES, front: edgeFront, ...(mode === 'jetstream' ? { natsUrl: natsUrl! } : {}) });
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function signUp() {
    const email = `revoked-${++counter}-${Date.now()}@example.com`;
    const session = await anonymous().identity.signUp({ email, password: PASSWORD, displayName: 'Rev' });
    return { email, session, api: as(session.accessToken) };
  }

  /** An org with a board, so every service has something the token can ask for. */
  async function workspace(api: TaskmeshClient) {
    const org = (await api.org.createOrganization({ organization: { displayName: 'Revocation' } })).organization!.name;
    const board = (await api.board.createBoard({ parent: org, board: { displayName: 'B' } })).board!.name;
    return { org, board };
  }

  /** One call per service with the token: the HTTP status each answers (200 when it succeeds). */
  async function statusesFor(token: string, { org, board }: { org: string; board: string }): Promise<Record<string, number>> {
    const api = as(token);
    const probe = async (call: Promise<unknown>) => {
      try {
        await call;
        return 200;
      } catch (err) {
        if (err instanceof ApiError) return err.httpStatus;
        throw err;
      }
    };
    const [identity, orgCreate, boards, tasks, audit] = await Promise.all([
      probe(api.identity.getCurrentUser()),
      probe(api.org.createOrganization({ organization: { displayName: 'After' } })),
      probe(api.board.listBoards({ parent: org })),
      probe(api.task.listTasks({ parent: board })),
      probe(api.audit.listAuditEvents({ parent: org })),
    ]);
    return { identity, orgCreate, boards, tasks, audit };
  }

  const ALL_401 = { identity: 401, orgCreate: 401, boards: 401, tasks: 401, audit: 401 };

  /** Polls until every service answers 401, for at most one second after the session ended. */
  async function expectRefusedEverywhereWithin1s(token: string, place: { org: string; board: string }) {
    const ended = Date.now();
    let last: Record<string, number> = {};
    while (Date.now() - ended < 1_000) {
      last = await statusesFor(token, place);
      if (Object.values(last).every((s) => s === 401)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(last).toEqual(ALL_401);
  }

  it('log-out: the old access token gets 401 from every service within 1 s', async () => {
    const { session, api } = await signUp();
    const place = await workspace(api);
    expect(Object.values(await statusesFor(session.accessToken, place)).every((s) => s === 200)).toBe(true);
    await anonymous().identity.logOut({ refreshToken: session.refreshToken });
    await expectRefusedEverywhereWithin1s(session.accessToken, place);
  });

  it('log out everywhere: every session of the caller ends, other users keep theirs', async () => {
    const { email, session, api } = await signUp();
    const place = await workspace(api);
    const second = await anonymous().identity.logIn({ email, password: PASSWORD });
    const bystander = await signUp();
    await as(second.accessToken).identity.logOutEverywhere();
    await expectRefusedEverywhereWithin1s(session.accessToken, place);
    await expectRefusedEverywhereWithin1s(second.accessToken, place);
    expect((await bystander.api.identity.getCurrentUser()).user?.name).toBe(bystander.session.user?.name);
    expect((await bystander.api.org.createOrganization({ organization: { displayName: 'Still here' } })).organization).toBeDefined();
  });

  it('password reset: tokens of every earlier session get 401 within 1 s', async () => {
    const { email, session, api } = await signUp();
    const place = await workspace(api);
    await anonymous().identity.requestPasswordReset({ email });
    const token = await resetTokenFor(stack.db.dataDir, email);
    await anonymous().identity.resetPassword({ token, newPassword: 'a brand new secret' });
    await expectRefusedEverywhereWithin1s(session.accessToken, place);
  });

  it('refresh-token reuse: the session ends and its access tokens get 401 within 1 s', async () => {
    const { session, api } = await signUp();
    const place = await workspace(api);
    const rotated = await anonymous().identity.refresh({ refreshToken: session.refreshToken });
    await anonymous().identity.refresh({ refreshToken: session.refreshToken }).catch(() => undefined);
    await expectRefusedEverywhereWithin1s(rotated.accessToken, place);
  });

  it('membership removal: the removed member is refused in that org within 1 s', async () => {
    const owner = await signUp();
    const member = await signUp();
    const place = await workspace(owner.api);
    const { token } = await owner.api.org.createInvitation({ parent: place.org, invitation: { email: member.email, role: 'ROLE_MEMBER' } });
    await member.api.org.acceptInvitation({ token });
    const members = await owner.api.org.listMembers({ parent: place.org });
    const name = members.members.find((m) => m.user === member.session.user!.name)!.name;
    expect((await member.api.board.listBoards({ parent: place.org })).boards).toHaveLength(1);
    await owner.api.org.deleteMember({ name });
    const removed = Date.now();
    let codes: number[] = [];
    while (Date.now() - removed < 1_000) {
      const s = await statusesFor(member.session.accessToken, place);
      codes = [s.boards!, s.tasks!, s.audit!];
      if (codes.every((c) => c === 404 || c === 401)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(codes.every((c) => c === 404 || c === 401)).toBe(true);
  });

  it('a replica that starts after the log-out loads the ended sessions and refuses the token', async () => {
    const { session } = await signUp();
    await anonymous().identity.logOut({ refreshToken: session.refreshToken });
    // A second org replica on a bus of its own: it never sees the event, only identity's current list.
    const log = pino({ level: 'silent' });
    const replica = await startOrg({
      config: loadOrgConfig({
        DATABASE_URL: stack.db.databaseUrl,
        TASKMESH_DATA_DIR: stack.db.dataDir,
        ORG_PORT: '0',
        IDENTITY_ADDR: stack.services[IDENTITY_SERVICE_NAME]!,
      }),
      log,
      bus: createInProcessBus({ log }),
    });
    const client = new OrgServiceClient(replica.grpc.address, credentials.createInsecure());
    try {
      const metadata = new Metadata();
      metadata.set('authorization', `Bearer ${session.accessToken}`);
      const request = CreateOrganizationRequest.fromPartial({ organization: { displayName: 'Late' } });
      const err = await callUnary(client, client.createOrganization, request, { metadata }).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      expect(err?.code).toBe(status.UNAUTHENTICATED);
    } finally {
      client.close();
      await replica.close();
    }
    expect(stack.services[ORG_SERVICE_NAME]).toBeDefined();
  });
});

async function resetTokenFor(dataDir: string, email: string): Promise<string> {
  const dir = join(dataDir, 'mail');
  for (let i = 0; i < 100; i++) {
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      files = [];
    }
    for (const f of files) {
      const mail = readFileSync(join(dir, f), 'utf8');
      if (!mail.includes(`To: ${email}`)) continue;
      const token = /reset token: ([A-Za-z0-9_-]{43})/.exec(mail.replace(/=\n/g, ''))?.[1];
      if (token) return token;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no reset mail to ${email}`);
}
