import { Metadata, type Client } from '@grpc/grpc-js';
import { IdentityServiceClient, type SignUpResponse } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import type { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { CreateInvitationRequest, CreateOrganizationRequest, OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { callUnary } from '../grpc-client.ts';
import type { ServiceClientClass } from './test-stack.ts';

/** Where the helpers get their clients: a TestStack. */
export interface ClientSource {
  clientOf<C extends Client>(clientClass: ServiceClientClass<C>): C;
}

export interface TestUser {
  /** The user id (`users/{id}`). */
  id: string;
  name: string;
  email: string;
  /** The access token. */
  token: string;
  /** Metadata carrying the access token. */
  auth: Metadata;
  session: SignUpResponse;
}

export const TEST_PASSWORD = 'correct horse battery';

/** Metadata carrying `user`'s access token; none for undefined (an anonymous call). */
export const authOf = (user: TestUser | undefined): Metadata => user?.auth ?? new Metadata();

let counter = 0;

/** A new account through the real identity service, with an address unique to this run. */
export async function signUp(
  stack: ClientSource,
  label = 'user',
  options: { email?: string; password?: string; displayName?: string } = {},
): Promise<TestUser> {
  const client = stack.clientOf(IdentityServiceClient);
  const email = options.email ?? `${label}-${++counter}-${process.pid}-${Date.now()}@example.com`;
  const session = await callUnary(client, client.signUp, { email, password: options.password ?? TEST_PASSWORD, displayName: options.displayName ?? `${label} ${counter}` });
  const auth = new Metadata();
  auth.set('authorization', `Bearer ${session.accessToken}`);
  const name = session.user!.name;
  return { id: name.slice('users/'.length), name, email, token: session.accessToken, auth, session };
}

/** An organization owned by `owner`; returns `organizations/{id}`. */
export async function createOrg(stack: ClientSource, owner: TestUser, displayName = 'Acme'): Promise<string> {
  const client = stack.clientOf(OrgServiceClient);
  const request = CreateOrganizationRequest.fromPartial({ organization: { displayName } });
  const res = await callUnary(client, client.createOrganization, request, { metadata: owner.auth });
  return res.organization!.name;
}

/** Invites `email` into `org` with `role` as `inviter` (undefined: anonymously); returns the invitation (with its token). */
export async function invite(stack: ClientSource, org: string, inviter: TestUser | undefined, email: string, role: Role) {
  const client = stack.clientOf(OrgServiceClient);
  const request = CreateInvitationRequest.fromPartial({ parent: org, invitation: { email, role } });
  return callUnary(client, client.createInvitation, request, { metadata: authOf(inviter) });
}

/** Makes `user` a member of `org` with `role` through the real invitation flow. */
export async function addMember(stack: ClientSource, org: string, owner: TestUser, user: TestUser, role: Role): Promise<void> {
  const { token } = await invite(stack, org, owner, user.email, role);
  const client = stack.clientOf(OrgServiceClient);
  await callUnary(client, client.acceptInvitation, { token }, { metadata: user.auth });
}
