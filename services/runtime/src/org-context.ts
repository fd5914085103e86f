import type { ServiceDefinition } from '@grpc/grpc-js';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { AccessTokenVerifier, Principal } from './access-tokens.ts';
import { runAsApiToken } from './api-token-auth.ts';
import { NotFoundError, PermissionDeniedError } from './errors.ts';
import type { AsyncService, CallContext, ServerStream } from './grpc-server.ts';
import type { MembershipLookup, OrgRole } from './membership-lookup.ts';
import { orgIdOf } from './resource-names.ts';
import { forkForOrg } from './tenancy.ts';

/**
 * The org-context chain: the single place where a tenant RPC is authenticated, its organization resolved, the
 * caller's membership looked up and the permission checked, before the handler runs in an EntityManager bound
 * to that organization. Services declare one access table; handlers receive a typed context.
 *
 *   no or bad token              → UNAUTHENTICATED
 *   not a member (or org gone)   → NOT_FOUND for anything under the org (existence is not revealed)
 *   member without the role      → PERMISSION_DENIED
 *   org suspended by a platform administrator → PERMISSION_DENIED, reason ORG_SUSPENDED (a rule's
 *                                  `whileSuspended: 'owners'` lets its OWNERs through)
 */

export interface OrgRef {
  id: string;
  /** organizations/{org} */
  name: string;
}

/** What a tenant handler runs with. `em` is a fresh fork whose tenant filter and RLS variable are `org`. */
export interface TenantContext {
  principal: Principal;
  org: OrgRef;
  role: OrgRole;
  em: EntityManager;
  call: CallContext;
}

/** An authenticated call outside any org (create an org, list mine, accept an invitation). */
export interface UserContext {
  principal: Principal;
  /** A fresh fork with no org: tenant queries on it fail closed until the handler binds one (forkForOrg). */
  em: EntityManager;
  call: CallContext;
}

/** A service-to-service call with no end-user token (never given an HTTP binding). */
export interface InternalContext {
  em: EntityManager;
  call: CallContext;
}

/**
 * One row of the access table.
 * - `{ roles }`: a tenant RPC that members with one of `roles` may call.
 * - `{ roles, orIf }`: members with a role in `orIf.roles` may call it too when `orIf.holds` says so for this
 *   request, e.g. "a MEMBER may update a task they created or are assigned to", or "anyone may leave". The
 *   predicate runs in the tenant context before the handler.
 * - `'authenticated'`: any signed-in user, no org.
 * - `'internal'`: no end-user authentication; only for RPCs without an HTTP binding.
 * - `'public'`: no authentication at all, for HTTP-bound RPCs anyone may call (a shared task's read-only
 *   view); the handler gets no org and must bind one itself (forkForOrg) from what the request proves.
 */
export type AccessRule<Req = unknown> =
  | {
      roles: readonly OrgRole[];
      orIf?: { roles: readonly OrgRole[]; holds: (request: Req, context: TenantContext) => boolean | Promise<boolean> };
      /** Where the org is read from; defaults to the request's name, parent or first nested resource's name. */
      orgFrom?: (request: Req) => string;
      /**
       * While a platform administrator has the org suspended, every call in it is refused (PERMISSION_DENIED,
       * reason ORG_SUSPENDED) unless this names the caller's role: 'owners' for the reads (and the export) its
       * OWNERs keep. Mark read-only RPCs only.
       */
      whileSuspended?: 'owners';
    }
  | 'authenticated'
  | 'internal'
  | 'public';

type RequestOf<M> = M extends { requestDeserialize: (value: Buffer) => infer Req } ? Req : never;
type ResponseOf<M> = M extends { responseDeserialize: (value: Buffer) => infer Res } ? Res : never;

/** The access table of a service: one rule per RPC, keyed like the generated service definition. */
export type AccessTable<D> = { readonly [K in keyof D]: AccessRule<RequestOf<D[K]>> };

type ContextFor<R> = R extends 'authenticated'
  ? UserContext
  : R extends 'internal' | 'public'
    ? InternalContext
    : TenantContext;

/** Handlers of a service behind the chain, each receiving the context its access rule gives. */
export type TenantAwareService<D, T extends AccessTable<D>> = {
  [K in keyof D]: D[K] extends { responseStream: infer Streaming }
    ? Streaming extends true
      ? (request: RequestOf<D[K]>, context: ContextFor<T[K]>, stream: ServerStream<ResponseOf<D[K]>>) => Promise<void>
      : (request: RequestOf<D[K]>, context: ContextFor<T[K]>) => Promise<ResponseOf<D[K]>>
    : never;
};

export const ALL_ROLES: readonly OrgRole[] = ['OWNER', 'ADMIN', 'MEMBER', 'VIEWER'];

export interface OrgContextDeps {
  verifier: AccessTokenVerifier;
  memberships: MembershipLookup;
  /** The service's root EntityManager; every call gets its own fork. */
  em: EntityManager;
}

/** The resource name a request is about: `name`, else `parent`, else the `name` of its first nested message. */
export function resourceNameOf(request: unknown): { value: string; field: string } {
  const message = (request ?? {}) as Record<string, unknown>;
  for (const field of ['name', 'parent']) {
    const value = message[field];
    if (typeof value === 'string' && value.length > 0) return { value, field };
  }
  for (const [field, value] of Object.entries(message)) {
    if (value && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)) {
      const nested = (value as Record<string, unknown>).name;
      if (typeof nested === 'string' && nested.length > 0) return { value: nested, field: `${snake(field)}.name` };
    }
  }
  return { value: '', field: 'name' };
}

const snake = (field: string) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Runs the chain for one tenant call and returns the handler's context. Exported for streaming and tests. */
export async function enterOrg<Req>(
  rule: Exclude<AccessRule<Req>, string>,
  request: Req,
  call: CallContext,
  deps: OrgContextDeps,
): Promise<TenantContext> {
  const principal = await deps.verifier.authenticate(call.metadata);
  const orgId = rule.orgFrom ? orgIdOf(rule.orgFrom(request)) : orgIdFromRequest(request);
  const org = { id: orgId, name: `organizations/${orgId}` };
  // An API token is a member of its own org only; anywhere else it is a stranger.
  const membership = principal.apiToken
    ? principal.apiToken.orgId === orgId ? { role: principal.apiToken.role, orgSuspended: principal.apiToken.orgSuspended } : undefined
    : await deps.memberships.membershipOf(orgId, principal.userId);
  if (!membership) throw new NotFoundError(org.name);
  const { role } = membership;
  if (membership.orgSuspended && !(rule.whileSuspended === 'owners' && role === 'OWNER')) {
    throw new PermissionDeniedError(`${org.name} is suspended`, { reason: 'ORG_SUSPENDED' });
  }
  const context: TenantContext = { principal, org, role, em: forkForOrg(deps.em, orgId), call };
  if (rule.roles.includes(role)) return context;
  if (rule.orIf?.roles.includes(role) && (await rule.orIf.holds(request, context))) return context;
  throw new PermissionDeniedError(`role ${role} may not call ${call.method.slice(call.method.lastIndexOf('/') + 1)}`, {
    reason: 'ROLE_NOT_ALLOWED',
  });
}

function orgIdFromRequest(request: unknown): string {
  const { value, field } = resourceNameOf(request);
  return orgIdOf(value, field);
}

/**
 * Wraps a service's handlers in the chain, for bindService. Every RPC of the definition must have a rule
 * (the type demands it), so a new RPC cannot slip in unguarded.
 */
export function withOrgContext<D extends ServiceDefinition, T extends AccessTable<D>>(
  definition: D,
  table: T,
  handlers: TenantAwareService<D, T>,
  deps: OrgContextDeps,
): AsyncService<D> {
  const wrapped: Record<string, unknown> = {};
  for (const key of Object.keys(definition)) {
    const rule = (table as Record<string, AccessRule>)[key];
    const handler = (handlers as Record<string, (req: unknown, context: unknown, stream?: unknown) => Promise<unknown>>)[key];
    if (!rule || !handler) throw new Error(`no access rule or handler for ${definition[key]!.path}`);
    wrapped[key] = async (request: unknown, call: CallContext, stream?: unknown) => {
      let context: TenantContext | UserContext | InternalContext;
      if (rule === 'internal' || rule === 'public') {
        context = { em: deps.em.fork({ clear: true }), call };
      } else if (rule === 'authenticated') {
        const principal = await deps.verifier.authenticate(call.metadata);
        if (principal.apiToken) throw new PermissionDeniedError('API tokens act only within their organization', { reason: 'API_TOKEN_NOT_ALLOWED' });
        context = { principal, em: deps.em.fork({ clear: true }), call };
      } else {
        context = await enterOrg(rule, request, call, deps);
      }
      return runAsApiToken('principal' in context ? context.principal.apiToken : undefined, () => handler(request, context, stream));
    };
  }
  return wrapped as AsyncService<D>;
}
