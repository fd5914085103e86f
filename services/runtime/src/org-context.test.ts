import { randomUUID } from 'node:crypto';
import { Metadata, status } from '@grpc/grpc-js';
import type { EntityManager } from '@mikro-orm/postgresql';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { OrgServiceService } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import type { AccessTokenVerifier } from './access-tokens.ts';
import { UnauthenticatedError } from './errors.ts';
import type { CallContext } from './grpc-server.ts';
import { activeOrgsLookup, type OrgRole } from './membership-lookup.ts';
import { enterOrg, resourceNameOf, withOrgContext, type AccessRule } from './org-context.ts';
import { codeOf } from './testing/grpc-assertions.ts';

const verifier: AccessTokenVerifier = {
  verify: async () => {
    throw new Error('unused');
  },
  async authenticate(metadata) {
    const header = metadata.get('authorization')[0];
    if (typeof header !== 'string') throw new UnauthenticatedError();
    return { userId: header.replace('Bearer ', ''), sessionId: 's', tokenId: 't' };
  },
};

/** Records what the chain binds the handler's EntityManager to. */
function fakeEm() {
  const bound: { filter?: unknown; session?: unknown } = {};
  const fork = {
    setFilterParams: (_name: string, args: unknown) => (bound.filter = args),
    setSessionContext: (ctx: unknown) => (bound.session = ctx),
  };
  return { em: { fork: () => fork } as unknown as EntityManager, bound };
}

function callAs(userId?: string): CallContext {
  const metadata = new Metadata();
  if (userId) metadata.set('authorization', `Bearer ${userId}`);
  return { method: '/x.v1.S/DoThing', metadata, peer: '', requestId: 'r', log: pino({ level: 'silent' }), signal: new AbortController().signal };
}

const org = randomUUID();
const roles: Record<string, OrgRole> = { owner: 'OWNER', viewer: 'VIEWER' };
const lookups: string[] = [];
const deps = (em: EntityManager) => ({
  verifier,
  em,
  memberships: activeOrgsLookup(async (orgId: string, userId: string) => {
    lookups.push(`${orgId}/${userId}`);
    return orgId === org ? roles[userId] : undefined;
  }),
});
const ownersOnly: AccessRule<{ name: string }> = { roles: ['OWNER'] };

describe('org-context chain', () => {
  it('binds the handler EntityManager to the org: tenant filter and RLS variable', async () => {
    const { em, bound } = fakeEm();
    const tc = await enterOrg(ownersOnly, { name: `organizations/${org}/boards/b` }, callAs('owner'), deps(em));
    expect(tc).toMatchObject({ org: { id: org, name: `organizations/${org}` }, role: 'OWNER', principal: { userId: 'owner' } });
    expect(bound.filter).toEqual({ orgId: org });
    expect(bound.session).toEqual({ variables: { 'app.org_id': org } });
  });

  it('answers UNAUTHENTICATED without a token, before looking anything up', async () => {
    lookups.length = 0;
    expect(await codeOf(enterOrg(ownersOnly, { name: `organizations/${org}` }, callAs(), deps(fakeEm().em)))).toBe(status.UNAUTHENTICATED);
    expect(lookups).toEqual([]);
  });

  it('answers NOT_FOUND to non-members and for ids that cannot exist, PERMISSION_DENIED to members without the role', async () => {
    const { em } = fakeEm();
    expect(await codeOf(enterOrg(ownersOnly, { name: `organizations/${org}` }, callAs('stranger'), deps(em)))).toBe(status.NOT_FOUND);
    expect(await codeOf(enterOrg(ownersOnly, { name: `organizations/${randomUUID()}` }, callAs('owner'), deps(em)))).toBe(status.NOT_FOUND);
    expect(await codeOf(enterOrg(ownersOnly, { name: 'organizations/not-a-uuid' }, callAs('owner'), deps(em)))).toBe(status.NOT_FOUND);
    expect(await codeOf(enterOrg(ownersOnly, { name: `organizations/${org}` }, callAs('viewer'), deps(em)))).toBe(status.PERMISSION_DENIED);
    expect(await codeOf(enterOrg(ownersOnly, { name: `boards/${org}` }, callAs('owner'), deps(em)))).toBe(status.INVALID_ARGUMENT);
  });

  it('lets the orIf roles in only when the predicate holds', async () => {
    const rule: AccessRule<{ name: string; mine: boolean }> = {
      roles: ['OWNER'],
      orIf: { roles: ['VIEWER'], holds: (req) => req.mine },
    };
    const { em } = fakeEm();
    expect(await codeOf(enterOrg(rule, { name: `organizations/${org}`, mine: true }, callAs('viewer'), deps(em)))).toBe(status.OK);
    expect(await codeOf(enterOrg(rule, { name: `organizations/${org}`, mine: false }, callAs('viewer'), deps(em)))).toBe(status.PERMISSION_DENIED);
  });

  it('reads the org from name, parent, or a nested resource name', () => {
    expect(resourceNameOf({ parent: 'organizations/a' })).toEqual({ value: 'organizations/a', field: 'parent' });
    expect(resourceNameOf({ organization: { name: 'organizations/b' }, updateMask: [] })).toEqual({
      value: 'organizations/b',
      field: 'organization.name',
    });
    expect(resourceNameOf({ task: { name: 'organizations/c/boards/d/tasks/e' } }).value).toBe('organizations/c/boards/d/tasks/e');
  });

  it('refuses to wrap a service with an RPC that has no access rule', () => {
    const { em } = fakeEm();
    const handlers = Object.fromEntries(Object.keys(OrgServiceService).map((k) => [k, async () => ({})]));
    const table = Object.fromEntries(Object.keys(OrgServiceService).map((k) => [k, 'authenticated']));
    delete table.getMembership;
    expect(() => withOrgContext(OrgServiceService, table as never, handlers as never, deps(em))).toThrow(/GetMembership/);
  });
});
