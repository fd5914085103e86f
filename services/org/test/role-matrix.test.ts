import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiToken } from '@taskmesh/gen/taskmesh/org/v1/api_token.js';
import { addMember, call, codeOf, createOrg, invite, Role, signUp, startHarness, type Harness, type TestUser } from './harness.ts';

/**
 * API.md "Roles" for every OrgService action, as one table: each action × OWNER / ADMIN / MEMBER / VIEWER /
 * a signed-in non-member / an anonymous caller → the exact gRPC code. Actions that change the fixture get a
 * fresh organization per case, so no case depends on another.
 */
const CALLERS = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER', 'non-member', 'anonymous'] as const;
type Caller = (typeof CALLERS)[number];

const { OK, PERMISSION_DENIED: DENIED, NOT_FOUND, UNAUTHENTICATED, FAILED_PRECONDITION, ALREADY_EXISTS } = status;

interface Fixture {
  org: { id: string; name: string };
  /** A pending MEMBER invitation and a pending OWNER invitation. */
  memberInvitation: string;
  ownerInvitation: string;
  /** A live ADMIN API token. */
  apiToken: string;
}

interface Users {
  OWNER: TestUser;
  ADMIN: TestUser;
  MEMBER: TestUser;
  VIEWER: TestUser;
  /** Further members an action targets. */
  targetMember: TestUser;
  targetAdmin: TestUser;
  outsider: TestUser;
}

interface Action {
  action: string;
  /** The fixture must be fresh: the action changes it when it succeeds. */
  mutates: boolean;
  run(f: Fixture, who: TestUser | undefined): Promise<unknown>;
  expected: Record<Caller, number>;
}

/** Org-scoped expectations: the roles listed get `ok`, other members PERMISSION_DENIED. */
function onlyRoles(roles: Caller[], overrides: Partial<Record<Caller, number>> = {}): Record<Caller, number> {
  const row = { 'non-member': NOT_FOUND, anonymous: UNAUTHENTICATED } as Record<Caller, number>;
  for (const role of ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'] as const) row[role] = roles.includes(role) ? OK : DENIED;
  return { ...row, ...overrides };
}
const ANY_MEMBER: Caller[] = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'];

let h: Harness;
let users: Users;
let shared: Fixture;
let emailCounter = 0;
const freshEmail = () => `matrix-${++emailCounter}-${Date.now()}@example.com`;
const memberMsg = (name: string, role: Role) => ({ name, role, user: '', email: '', displayName: '', etag: '', createTime: undefined, updateTime: undefined });
const memberOf = (f: Fixture, user: TestUser) => `${f.org.name}/members/${user.id}`;
const userOf = (caller: Caller): TestUser | undefined =>
  caller === 'anonymous' ? undefined : caller === 'non-member' ? users.outsider : users[caller];

const actions: Action[] = [
  {
    action: 'GetOrganization',
    mutates: false,
    run: (f, who) => call(h, (c) => c.getOrganization, { name: f.org.name }, who),
    expected: onlyRoles(ANY_MEMBER),
  },
  {
    action: 'ListMembers',
    mutates: false,
    run: (f, who) => call(h, (c) => c.listMembers, { parent: f.org.name, pageSize: 0, pageToken: '' }, who),
    expected: onlyRoles(ANY_MEMBER),
  },
  {
    action: 'UpdateOrganization',
    mutates: true,
    run: (f, who) =>
      call(h, (c) => c.updateOrganization, { organization: { name: f.org.name, displayName: 'Renamed', etag: '' }, updateMask: ['display_name'] }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'DeleteOrganization',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteOrganization, { name: f.org.name, etag: '' }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'CreateInvitation as MEMBER',
    mutates: false,
    run: (f, who) => invite(h, f.org.name, who!, freshEmail(), Role.ROLE_MEMBER),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'CreateInvitation as ADMIN',
    mutates: false,
    run: (f, who) => invite(h, f.org.name, who!, freshEmail(), Role.ROLE_ADMIN),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'CreateInvitation as OWNER',
    mutates: false,
    run: (f, who) => invite(h, f.org.name, who!, freshEmail(), Role.ROLE_OWNER),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'ListInvitations',
    mutates: false,
    run: (f, who) => call(h, (c) => c.listInvitations, { parent: f.org.name, pageSize: 0, pageToken: '' }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'CreateApiToken as MEMBER',
    mutates: false,
    run: (f, who) => call(h, (c) => c.createApiToken, { parent: f.org.name, apiToken: ApiToken.fromPartial({ displayName: 'ci', role: Role.ROLE_MEMBER }) }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'CreateApiToken as OWNER',
    mutates: false,
    run: (f, who) => call(h, (c) => c.createApiToken, { parent: f.org.name, apiToken: ApiToken.fromPartial({ displayName: 'ci', role: Role.ROLE_OWNER }) }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'ListApiTokens',
    mutates: false,
    run: (f, who) => call(h, (c) => c.listApiTokens, { parent: f.org.name, pageSize: 0, pageToken: '' }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'DeleteApiToken',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteApiToken, { name: f.apiToken }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'DeleteInvitation (MEMBER invitation)',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteInvitation, { name: f.memberInvitation }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'DeleteInvitation (OWNER invitation)',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteInvitation, { name: f.ownerInvitation }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'UpdateMember MEMBER → VIEWER',
    mutates: true,
    run: (f, who) => call(h, (c) => c.updateMember, { member: memberMsg(memberOf(f, users.targetMember), Role.ROLE_VIEWER), updateMask: ['role'] }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'UpdateMember MEMBER → ADMIN',
    mutates: true,
    run: (f, who) => call(h, (c) => c.updateMember, { member: memberMsg(memberOf(f, users.targetMember), Role.ROLE_ADMIN), updateMask: ['role'] }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'UpdateMember MEMBER → OWNER',
    mutates: true,
    run: (f, who) => call(h, (c) => c.updateMember, { member: memberMsg(memberOf(f, users.targetMember), Role.ROLE_OWNER), updateMask: ['role'] }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'UpdateMember ADMIN → MEMBER',
    mutates: true,
    run: (f, who) => call(h, (c) => c.updateMember, { member: memberMsg(memberOf(f, users.targetAdmin), Role.ROLE_MEMBER), updateMask: ['role'] }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'DeleteMember (remove a MEMBER)',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteMember, { name: memberOf(f, users.targetMember) }, who),
    expected: onlyRoles(['OWNER', 'ADMIN']),
  },
  {
    action: 'DeleteMember (remove an ADMIN)',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteMember, { name: memberOf(f, users.targetAdmin) }, who),
    expected: onlyRoles(['OWNER']),
  },
  {
    action: 'DeleteMember (leave)',
    mutates: true,
    run: (f, who) => call(h, (c) => c.deleteMember, { name: memberOf(f, who ?? users.outsider) }, who),
    // The fixture's OWNER is its only OWNER.
    expected: onlyRoles(ANY_MEMBER, { OWNER: FAILED_PRECONDITION }),
  },
  {
    action: 'AcceptInvitation (addressed to the caller)',
    mutates: true,
    run: async (f, who) => {
      const { token } = await invite(h, f.org.name, users.OWNER, (who ?? users.outsider).email, Role.ROLE_MEMBER);
      return call(h, (c) => c.acceptInvitation, { token }, who);
    },
    expected: { OWNER: ALREADY_EXISTS, ADMIN: ALREADY_EXISTS, MEMBER: ALREADY_EXISTS, VIEWER: ALREADY_EXISTS, 'non-member': OK, anonymous: UNAUTHENTICATED },
  },
  {
    action: 'CreateOrganization',
    mutates: false,
    run: (_f, who) => call(h, (c) => c.createOrganization, { organization: { name: '', displayName: 'Mine', etag: '' }, requestId: '' }, who),
    expected: { OWNER: OK, ADMIN: OK, MEMBER: OK, VIEWER: OK, 'non-member': OK, anonymous: UNAUTHENTICATED },
  },
  {
    action: 'ListOrganizations',
    mutates: false,
    run: (_f, who) => call(h, (c) => c.listOrganizations, { pageSize: 0, pageToken: '' }, who),
    expected: { OWNER: OK, ADMIN: OK, MEMBER: OK, VIEWER: OK, 'non-member': OK, anonymous: UNAUTHENTICATED },
  },
];

async function buildFixture(): Promise<Fixture> {
  const org = await createOrg(h, users.OWNER, 'Matrix');
  await addMember(h, org.name, users.OWNER, users.ADMIN, Role.ROLE_ADMIN);
  await addMember(h, org.name, users.OWNER, users.MEMBER, Role.ROLE_MEMBER);
  await addMember(h, org.name, users.OWNER, users.VIEWER, Role.ROLE_VIEWER);
  await addMember(h, org.name, users.OWNER, users.targetMember, Role.ROLE_MEMBER);
  await addMember(h, org.name, users.OWNER, users.targetAdmin, Role.ROLE_ADMIN);
  const memberInvitation = (await invite(h, org.name, users.OWNER, freshEmail(), Role.ROLE_MEMBER)).invitation!.name;
  const ownerInvitation = (await invite(h, org.name, users.OWNER, freshEmail(), Role.ROLE_OWNER)).invitation!.name;
  const apiToken = (
    await call(h, (c) => c.createApiToken, { parent: org.name, apiToken: ApiToken.fromPartial({ displayName: 'fixture', role: Role.ROLE_ADMIN }) }, users.OWNER)
  ).apiToken!.name;
  return { org, memberInvitation, ownerInvitation, apiToken };
}

beforeAll(async () => {
  h = await startHarness();
  const [OWNER, ADMIN, MEMBER, VIEWER, targetMember, targetAdmin, outsider] = await Promise.all(
    ['owner', 'admin', 'member', 'viewer', 'target-member', 'target-admin', 'outsider'].map((label) => signUp(h, label)),
  );
  users = { OWNER: OWNER!, ADMIN: ADMIN!, MEMBER: MEMBER!, VIEWER: VIEWER!, targetMember: targetMember!, targetAdmin: targetAdmin!, outsider: outsider! };
  shared = await buildFixture();
});
afterAll(async () => {
  await h?.close();
});

const codeName = (code: number) => (code === OK ? 'OK' : status[code]);
const cases = actions.flatMap((a) => CALLERS.map((caller) => ({ ...a, caller, code: a.expected[caller] })));

describe('OrgService role matrix (API.md "Roles")', () => {
  it.each(cases)('$action as $caller', async ({ run, mutates, caller, code }) => {
    const fixture = mutates ? await buildFixture() : shared;
    expect(codeName(await codeOf(run(fixture, userOf(caller))))).toBe(codeName(code));
  });

  it('covers every OrgService RPC reachable through the edge', () => {
    const covered = new Set(actions.map((a) => a.action.split(' ')[0]));
    const rpcs = Object.keys(h.client.constructor.prototype as object)
      .filter((k) => /^[a-z]/.test(k) && k !== 'getMembership' && k !== 'resolveApiToken' && k !== 'exportOrganizationData' && k !== 'listSoleOwnerships' && !['close', 'getChannel', 'waitForReady', 'makeUnaryRequest', 'makeClientStreamRequest', 'makeServerStreamRequest', 'makeBidiStreamRequest'].includes(k))
      .map((k) => k[0]!.toUpperCase() + k.slice(1));
    expect(rpcs.length).toBe(15);
    for (const rpc of rpcs) expect(covered).toContain(rpc);
  });
});
