import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import pino from 'pino';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { ErrorInfo } from '@taskmesh/gen/google/rpc/error_details.js';
import { statusDetailsOf } from '@taskmesh/runtime/errors';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import type { Mailer, OutgoingMail } from '@taskmesh/runtime/mail';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
// Tests only: a real identity service next to the org service, each with its own schema in the test database.
import { identityConfigSchema } from '../../identity/src/config.ts';
import { startIdentity, type RunningIdentity } from '../../identity/src/server.ts';
import { orgConfigSchema } from '../src/config.ts';
import { startOrg, type RunningOrg } from '../src/server.ts';

export interface Harness {
  db: TestDatabase;
  identity: RunningIdentity;
  org: RunningOrg;
  identityClient: IdentityServiceClient;
  client: OrgServiceClient;
  mails: OutgoingMail[];
  close(): Promise<void>;
}

export async function startHarness(orgOverrides: Record<string, string> = {}): Promise<Harness> {
  const db = await createTestDatabase();
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const common = { DATABASE_URL: db.databaseUrl, TASKMESH_DATA_DIR: db.dataDir };
  const identity = await startIdentity({
    config: identityConfigSchema.parse({
      ...common,
      IDENTITY_PORT: '0',
      // Test speed only: the lowest argon2id cost the library accepts.
      ARGON2_MEMORY_KIB: '1024',
      // Every test signs up from the same loopback address.
      SIGNUP_MAX_PER_ADDRESS: '100000',
      RESET_MAX_PER_ADDRESS: '100000',
      ARGON2_ITERATIONS: '1',
    }),
    log,
  });
  const mails: OutgoingMail[] = [];
  const mailer: Mailer = {
    async send(mail) {
      mails.push(mail);
    },
    close() {},
  };
  const org = await startOrg({
    config: orgConfigSchema.parse({ ...common, ORG_PORT: '0', IDENTITY_ADDR: identity.grpc.address, ...orgOverrides }),
    log,
    mailer,
  });
  const identityClient = new IdentityServiceClient(identity.grpc.address, credentials.createInsecure());
  const client = new OrgServiceClient(org.grpc.address, credentials.createInsecure());
  return {
    db,
    identity,
    org,
    identityClient,
    client,
    mails,
    async close() {
      client.close();
      identityClient.close();
      await org.close();
      await identity.close();
      await db.drop();
    },
  };
}

export interface TestUser {
  id: string;
  email: string;
  token: string;
  /** Metadata carrying the user's bearer token. */
  auth: Metadata;
}

let counter = 0;
export async function signUp(h: Harness, label = 'user'): Promise<TestUser> {
  const email = `${label}-${++counter}-${process.pid}-${Date.now()}@example.com`;
  const res = await callUnary(h.identityClient, h.identityClient.signUp, {
    email,
    password: 'correct horse battery',
    displayName: `${label} ${counter}`,
  });
  const auth = new Metadata();
  auth.set('authorization', `Bearer ${res.accessToken}`);
  return { id: res.user!.name.slice('users/'.length), email, token: res.accessToken, auth };
}

/** Calls an OrgService method as `who` (undefined: no credentials). */
export function call<Req, Res>(h: Harness, method: (c: OrgServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
  return callUnary(h.client, method(h.client), req, { metadata: who?.auth ?? new Metadata() });
}

export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** The gRPC code a call ends with: 0 (OK) or the error's code. */
export async function codeOf(promise: Promise<unknown>): Promise<number> {
  try {
    await promise;
    return 0;
  } catch (err) {
    const code = (err as ServiceError).code;
    if (typeof code !== 'number') throw err;
    return code;
  }
}

export function reasonOf(err: ServiceError): string | undefined {
  const info = statusDetailsOf(err)?.details.find((d) => d.typeUrl.endsWith('google.rpc.ErrorInfo'));
  return info ? ErrorInfo.decode(info.value).reason : undefined;
}

export async function createOrg(h: Harness, owner: TestUser, displayName = 'Acme'): Promise<{ id: string; name: string }> {
  const res = await call(h, (c) => c.createOrganization, { organization: { displayName, name: '', etag: '' }, requestId: '' }, owner);
  const name = res.organization!.name;
  return { id: name.slice('organizations/'.length), name };
}

export async function invite(h: Harness, orgName: string, inviter: TestUser, email: string, role: Role) {
  return call(
    h,
    (c) => c.createInvitation,
    { parent: orgName, invitation: { name: '', email, role, inviter: '', createTime: undefined, expireTime: undefined }, requestId: '' },
    inviter,
  );
}

/** Makes `user` a member with `role` through the real invitation flow. */
export async function addMember(h: Harness, orgName: string, owner: TestUser, user: TestUser, role: Role): Promise<void> {
  const { token } = await invite(h, orgName, owner, user.email, role);
  await call(h, (c) => c.acceptInvitation, { token }, user);
}

export { Role };
