import { Metadata, status as GrpcCode } from '@grpc/grpc-js';
import { ApiToken } from '@taskmesh/gen/taskmesh/org/v1/api_token.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { codeOf, orgCall, type AuditStack, type TestUser } from './harness.ts';

/**
 * The table behind "every mutating API call produces exactly one audit event with the right actor and
 * resource". Each row is one API call made in order within one scenario, with the audit event it must
 * produce, or null when it must produce none (an idempotent retry, a rejected call). A list of events is
 * for the one kind of call whose effect cascades through events to other resources, each of which gets its
 * own entry: a list deletion, after which the task service deletes (and records TaskDeleted for) each task
 * still on the list (that row waits for the cascade, so the order stays exact). Board and task rows are in
 * audited-calls-boards.ts; the test also checks that the tables cover every mutating RPC of each service.
 */
export interface ExpectedAudit {
  eventType: string;
  actor: string;
  resource: string;
}

export interface AuditedCall<S> {
  /** The RPC, as keyed in the generated service definition (e.g. createOrganization). */
  rpc: string;
  what: string;
  run(scenario: S): Promise<ExpectedAudit | ExpectedAudit[] | null>;
}

export interface OrgScenario {
  stack: AuditStack;
  owner: TestUser;
  admin: TestUser;
  member: TestUser;
  leaver: TestUser;
  outsider: TestUser;
  /** organizations/{id}, set by the first call. */
  org: string;
  etag: string;
  /** Invitation names and tokens by invitee label. */
  invitations: Record<string, { name: string; token: string }>;
}

const ORG = 'taskmesh.org.v1.';
/** The API token the table mints, uses and revokes. */
let minted: { name: string; token: string } | undefined;

const memberName = (s: OrgScenario, user: TestUser) => `${s.org}/members/${user.id}`;

async function invite(s: OrgScenario, by: TestUser, label: string, email: string, role: Role, requestId = ''): Promise<ExpectedAudit> {
  const res = await orgCall(s.stack, (c) => c.createInvitation, { parent: s.org, invitation: { name: '', email, role, inviter: '' }, requestId }, by);
  s.invitations[label] = { name: res.invitation!.name, token: res.token };
  return { eventType: `${ORG}InvitationCreated`, actor: by.name, resource: res.invitation!.name };
}

async function accept(s: OrgScenario, label: string, user: TestUser): Promise<ExpectedAudit> {
  await orgCall(s.stack, (c) => c.acceptInvitation, { token: s.invitations[label]!.token }, user);
  return { eventType: `${ORG}InvitationAccepted`, actor: user.name, resource: s.invitations[label]!.name };
}

async function rename(s: OrgScenario, by: TestUser, displayName: string): Promise<ExpectedAudit> {
  const res = await orgCall(
    s.stack,
    (c) => c.updateOrganization,
    { organization: { name: s.org, displayName, etag: '' }, updateMask: ['display_name'] },
    by,
  );
  s.etag = res.organization!.etag;
  return { eventType: `${ORG}OrganizationUpdated`, actor: by.name, resource: s.org };
}

export const orgCalls: AuditedCall<OrgScenario>[] = [
  {
    rpc: 'createOrganization',
    what: 'owner creates an organization (its MemberAdded companion is not a second entry)',
    async run(s) {
      const res = await orgCall(s.stack, (c) => c.createOrganization, { organization: { name: '', displayName: 'Acme', etag: '' }, requestId: '' }, s.owner);
      s.org = res.organization!.name;
      return { eventType: `${ORG}OrganizationCreated`, actor: s.owner.name, resource: s.org };
    },
  },
  { rpc: 'updateOrganization', what: 'owner renames it', run: (s) => rename(s, s.owner, 'Acme Inc') },
  { rpc: 'createInvitation', what: 'owner invites an admin', run: (s) => invite(s, s.owner, 'admin', s.admin.email, Role.ROLE_ADMIN) },
  { rpc: 'acceptInvitation', what: 'the admin accepts (its MemberAdded companion is not a second entry)', run: (s) => accept(s, 'admin', s.admin) },
  { rpc: 'createInvitation', what: 'admin invites a member with a request id', run: (s) => invite(s, s.admin, 'member', s.member.email, Role.ROLE_MEMBER, 'req-1') },
  {
    rpc: 'createInvitation',
    what: 'a retry with the same request id returns the first result and records nothing',
    async run(s) {
      const res = await orgCall(
        s.stack,
        (c) => c.createInvitation,
        { parent: s.org, invitation: { name: '', email: s.member.email, role: Role.ROLE_MEMBER, inviter: '' }, requestId: 'req-1' },
        s.admin,
      );
      if (res.invitation!.name !== s.invitations.member!.name) throw new Error('the retry created a second invitation');
      // The retry re-issues the token (the first one may have been lost with the response): keep the latest.
      s.invitations.member!.token = res.token;
      return null;
    },
  },
  {
    rpc: 'acceptInvitation',
    what: 'the member accepts',
    run: (s) => accept(s, 'member', s.member),
  },
  {
    rpc: 'updateMember',
    what: 'admin makes the member a viewer',
    async run(s) {
      await orgCall(
        s.stack,
        (c) => c.updateMember,
        { member: { name: memberName(s, s.member), user: '', email: '', displayName: '', role: Role.ROLE_VIEWER, etag: '' }, updateMask: ['role'] },
        s.admin,
      );
      return { eventType: `${ORG}MemberRoleChanged`, actor: s.admin.name, resource: memberName(s, s.member) };
    },
  },
  {
    rpc: 'updateOrganization',
    what: 'the viewer may not rename the org: a rejected call records nothing',
    async run(s) {
      const code = await codeOf(rename(s, s.member, 'Hijacked'));
      if (code !== GrpcCode.PERMISSION_DENIED) throw new Error(`expected PERMISSION_DENIED, got ${code}`);
      return null;
    },
  },
  { rpc: 'createInvitation', what: 'admin invites an outsider', run: (s) => invite(s, s.admin, 'outsider', s.outsider.email, Role.ROLE_MEMBER) },
  {
    rpc: 'deleteInvitation',
    what: 'owner revokes that invitation',
    async run(s) {
      const name = s.invitations.outsider!.name;
      await orgCall(s.stack, (c) => c.deleteInvitation, { name }, s.owner);
      return { eventType: `${ORG}InvitationRevoked`, actor: s.owner.name, resource: name };
    },
  },
  {
    rpc: 'createApiToken',
    what: 'owner mints an API token',
    async run(s) {
      const res = await orgCall(s.stack, (c) => c.createApiToken, { parent: s.org, apiToken: ApiToken.fromPartial({ displayName: 'ci', role: Role.ROLE_ADMIN }) }, s.owner);
      minted = { name: res.apiToken!.name, token: res.token };
      return { eventType: `${ORG}ApiTokenCreated`, actor: s.owner.name, resource: res.apiToken!.name };
    },
  },
  {
    rpc: 'updateOrganization',
    what: 'the API token renames the org: the token is the actor',
    async run(s) {
      const asToken: TestUser = { ...s.owner, auth: new Metadata() };
      asToken.auth.set('authorization', `Bearer ${minted!.token}`);
      const audit = await rename(s, asToken, 'Acme by token');
      return { ...audit, actor: minted!.name };
    },
  },
  {
    rpc: 'deleteApiToken',
    what: 'owner revokes the API token',
    async run(s) {
      await orgCall(s.stack, (c) => c.deleteApiToken, { name: minted!.name }, s.owner);
      return { eventType: `${ORG}ApiTokenRevoked`, actor: s.owner.name, resource: minted!.name };
    },
  },
  { rpc: 'createInvitation', what: 'owner invites a member who will leave', run: (s) => invite(s, s.owner, 'leaver', s.leaver.email, Role.ROLE_MEMBER) },
  { rpc: 'acceptInvitation', what: 'they accept', run: (s) => accept(s, 'leaver', s.leaver) },
  {
    rpc: 'deleteMember',
    what: 'they leave: the actor is the member who left',
    async run(s) {
      await orgCall(s.stack, (c) => c.deleteMember, { name: memberName(s, s.leaver) }, s.leaver);
      return { eventType: `${ORG}MemberRemoved`, actor: s.leaver.name, resource: memberName(s, s.leaver) };
    },
  },
  {
    rpc: 'deleteMember',
    what: 'owner removes the viewer',
    async run(s) {
      await orgCall(s.stack, (c) => c.deleteMember, { name: memberName(s, s.member) }, s.owner);
      return { eventType: `${ORG}MemberRemoved`, actor: s.owner.name, resource: memberName(s, s.member) };
    },
  },
  { rpc: 'updateOrganization', what: 'admin renames the org', run: (s) => rename(s, s.admin, 'Acme Group') },
  {
    rpc: 'deleteOrganization',
    what: 'owner deletes the org',
    async run(s) {
      await orgCall(s.stack, (c) => c.deleteOrganization, { name: s.org, etag: s.etag }, s.owner);
      return { eventType: `${ORG}OrganizationDeleted`, actor: s.owner.name, resource: s.org };
    },
  },
];
