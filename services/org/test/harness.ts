import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import type { Mailer, OutgoingMail } from '@taskmesh/runtime/mail';
import { authOf, createOrg as createOrgNamed, type ClientSource, type TestUser } from '@taskmesh/runtime/testing/test-clients';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
// Tests only: a real identity service next to the org service, each with its own schema in the test database.
import { edgeFront } from '../../edge/src/descriptor.ts';
import { identityService } from '../../identity/src/descriptor.ts';
import type { RunningIdentity } from '../../identity/src/server.ts';
import { orgService } from '../src/descriptor.ts';
import type { RunningOrg } from '../src/server.ts';

export { codeOf, failure, reasonOf } from '@taskmesh/runtime/testing/grpc-assertions';
export { addMember, invite, signUp, type TestUser } from '@taskmesh/runtime/testing/test-clients';
export { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';

export interface Harness extends TestStack {
  identity: RunningIdentity;
  org: RunningOrg;
  identityClient: IdentityServiceClient;
  client: OrgServiceClient;
  /** Every mail the org service sent. */
  mails: OutgoingMail[];
}

/** identity + org, the org service's mail recorded; `rest`: the REST edge in front (h.url). */
export async function startHarness(overrides: Record<string, string> = {}, options: { rest?: boolean } = {}): Promise<Harness> {
  const mails: OutgoingMail[] = [];
  const mailer: Mailer = {
    async send(mail) {
      mails.push(mail);
    },
    close() {},
  };
  const stack = await startTestStack({
    services: [identityService, orgService],
    ...(options.rest ? { front: edgeFront } : {}),
    overrides,
    inject: { org: { mailer } },
  });
  return Object.assign(stack, {
    identity: stack.get(identityService),
    org: stack.get(orgService),
    identityClient: stack.clientOf(IdentityServiceClient),
    client: stack.clientOf(OrgServiceClient),
    mails,
  });
}

/** Calls an OrgService method as `who` (undefined: no credentials). */
export function call<Req, Res>(h: Harness, method: (c: OrgServiceClient) => UnaryMethod<Req, Res>, req: Req, who?: TestUser): Promise<Res> {
  return callUnary(h.client, method(h.client), req, { metadata: authOf(who) });
}

/** An organization owned by `owner`: its id and name. */
export async function createOrg(h: ClientSource, owner: TestUser, displayName = 'Acme'): Promise<{ id: string; name: string }> {
  const name = await createOrgNamed(h, owner, displayName);
  return { id: name.slice('organizations/'.length), name };
}
