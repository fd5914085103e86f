import { randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiTokenCreated, ApiTokenRevoked } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { API_TOKEN_PREFIX, type ApiTokenGrant } from '@taskmesh/runtime/api-token-auth';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from '@taskmesh/runtime/errors';
import { roleToProto, type OrgRole } from '@taskmesh/runtime/membership-lookup';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { digestToken } from '@taskmesh/runtime/secret-tokens';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { ApiTokenRecord, OrganizationRecord } from './db/entities.ts';

const DAY_MS = 86_400_000;
export const API_TOKEN_DEFAULT_TTL_DAYS = 90;
export const API_TOKEN_MAX_TTL_DAYS = 365;
/** last_used_at is written at most this often per token, so using a token stays a read. */
const LAST_USE_GRANULARITY_MS = 60_000;
const ROLE_RANK: Record<OrgRole, number> = { VIEWER: 0, MEMBER: 1, ADMIN: 2, OWNER: 3 };

const tokenName = (orgId: string, id: string) => `organizations/${orgId}/apiTokens/${id}`;

/** `tm_` + base64url(org id bytes ‖ 32 random bytes): the org id lets resolution run bound to that org. */
export function newApiTokenSecret(orgId: string): string {
  return API_TOKEN_PREFIX + Buffer.concat([Buffer.from(orgId.replaceAll('-', ''), 'hex'), randomBytes(32)]).toString('base64url');
}

/** The org an API token secret names, or undefined when it is malformed. */
export function orgIdOfApiTokenSecret(token: string): string | undefined {
  if (!token.startsWith(API_TOKEN_PREFIX) || token.length !== API_TOKEN_PREFIX.length + 64) return undefined;
  const bytes = Buffer.from(token.slice(API_TOKEN_PREFIX.length), 'base64url');
  if (bytes.length !== 48) return undefined;
  const hex = bytes.subarray(0, 16).toString('hex');
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return isResourceId(id) ? id : undefined;
}

export interface ApiTokenInput {
  displayName: string;
  role: OrgRole | undefined;
  expireTime: Date | undefined;
}

/** API tokens of an organization: minted by OWNER/ADMIN with at most their own role; stored as digests. */
export class ApiTokens {
  constructor(private readonly em: EntityManager) {}

  async create(tc: TenantContext, input: ApiTokenInput, now = new Date()): Promise<{ record: ApiTokenRecord; token: string }> {
    const displayName = input.displayName.trim();
    if (!displayName || displayName.length > 200) {
      throw new InvalidArgumentError({ field: 'api_token.display_name', description: 'is required, at most 200 characters' });
    }
    if (!input.role) throw new InvalidArgumentError({ field: 'api_token.role', description: 'is required' });
    if (ROLE_RANK[input.role] > ROLE_RANK[tc.role]) {
      throw new PermissionDeniedError(`a ${tc.role} cannot create a token with role ${input.role}`, { reason: 'ROLE_NOT_MANAGEABLE' });
    }
    const expiresAt = input.expireTime ?? new Date(now.getTime() + API_TOKEN_DEFAULT_TTL_DAYS * DAY_MS);
    if (expiresAt.getTime() <= now.getTime() || expiresAt.getTime() > now.getTime() + API_TOKEN_MAX_TTL_DAYS * DAY_MS) {
      throw new InvalidArgumentError({ field: 'api_token.expire_time', description: `must be in the future and within ${API_TOKEN_MAX_TTL_DAYS} days` });
    }
    const token = newApiTokenSecret(tc.org.id);
    const record = await tc.em.transactional(async (tx) => {
      const org = await tx.findOne(OrganizationRecord, { id: tc.org.id, deletedAt: null }, { fields: ['id'] });
      if (!org) throw new NotFoundError(tc.org.name);
      const row = tx.create(ApiTokenRecord, {
        id: randomUUID(),
        orgId: tc.org.id,
        displayName,
        role: input.role!,
        tokenHash: digestToken(token),
        createdBy: tc.principal.userId,
        createdAt: now,
        expiresAt,
        lastUsedAt: null,
        revokedAt: null,
      });
      recordEvent(
        tx,
        domainEvent('taskmesh.org.v1.ApiTokenCreated', ApiTokenCreated, { apiToken: toApiTokenMessage(row) }, {
          resource: tokenName(tc.org.id, row.id),
          organization: tc.org.name,
          actor: actorOf(tc),
        }),
      );
      return row;
    });
    return { record, token };
  }

  async list(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<{ items: ApiTokenRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = `apiTokens:${tc.org.id}`;
    const cursor = decodePageToken<[string, string]>(page.pageToken, query);
    const before = cursor
      ? { $or: [{ createdAt: { $lt: new Date(cursor[0]) } }, { createdAt: new Date(cursor[0]), id: { $lt: cursor[1] } }] }
      : {};
    const rows = await tc.em.find(
      ApiTokenRecord,
      { revokedAt: null, expiresAt: { $gt: new Date() }, ...before },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 },
    );
    return pageOf(rows, size, (r) => [r.createdAt.toISOString(), r.id] as [string, string], query);
  }

  async revoke(tc: TenantContext, id: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      const now = new Date();
      const claimed = isResourceId(id) ? await tx.nativeUpdate(ApiTokenRecord, { id, revokedAt: null }, { revokedAt: now }) : 0;
      if (claimed === 0) throw new NotFoundError(tokenName(tc.org.id, id));
      recordEvent(
        tx,
        domainEvent('taskmesh.org.v1.ApiTokenRevoked', ApiTokenRevoked, { apiToken: tokenName(tc.org.id, id) }, {
          resource: tokenName(tc.org.id, id),
          organization: tc.org.name,
          actor: actorOf(tc),
        }),
      );
    });
  }

  /**
   * The live token a secret belongs to, bound to the org the secret names (both walls apply), and whether that
   * org is suspended (its calls are refused with ORG_SUSPENDED then, as for its members).
   */
  async resolve(token: string): Promise<{ row: ApiTokenRecord; orgSuspended: boolean } | undefined> {
    const orgId = orgIdOfApiTokenSecret(token);
    if (!orgId) return undefined;
    const em = forkForOrg(this.em, orgId);
    const now = new Date();
    const row = await em.findOne(ApiTokenRecord, { tokenHash: digestToken(token), revokedAt: null, expiresAt: { $gt: now } });
    if (!row) return undefined;
    const org = await em.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { fields: ['id', 'suspendedAt'] });
    if (!org) return undefined;
    if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USE_GRANULARITY_MS) {
      await em.nativeUpdate(ApiTokenRecord, { id: row.id }, { lastUsedAt: now });
      row.lastUsedAt = now;
    }
    return { row, orgSuspended: org.suspendedAt !== null };
  }

  /** For the org service's own verifier: what the secret grants, without a network hop. */
  async grantOf(token: string): Promise<ApiTokenGrant | undefined> {
    const found = await this.resolve(token);
    return found && { tokenId: found.row.id, orgId: found.row.orgId, role: found.row.role as OrgRole, orgSuspended: found.orgSuspended };
  }
}

/**
 * Keeps "a token grants at most its creator's role" true after the creator's membership changes: revokes, in
 * `tx` (a transaction bound to the org), the creator's live tokens whose role outranks `role`, all of them when
 * `role` is undefined (the membership ended), each with its ApiTokenRevoked. Otherwise a member about to be
 * removed could mint a token and keep their access through it.
 */
export async function revokeTokensOutranking(tx: EntityManager, orgId: string, creatorId: string, role: OrgRole | undefined, actor: string): Promise<number> {
  const above = (Object.keys(ROLE_RANK) as OrgRole[]).filter((r) => role === undefined || ROLE_RANK[r] > ROLE_RANK[role]);
  if (above.length === 0) return 0;
  const revoked = await tx.execute<{ id: string }[]>(
    'update api_tokens set revoked_at = now() where org_id = ? and created_by = ? and revoked_at is null and role = any(?::text[]) returning id',
    [orgId, creatorId, `{${above.join(',')}}`],
  );
  for (const { id } of revoked) {
    recordEvent(
      tx,
      domainEvent('taskmesh.org.v1.ApiTokenRevoked', ApiTokenRevoked, { apiToken: tokenName(orgId, id) }, {
        resource: tokenName(orgId, id),
        organization: `organizations/${orgId}`,
        actor,
      }),
    );
  }
  return revoked.length;
}

/** The audit actor: the user (the outbox names the token instead when a token acts). */
const actorOf = (tc: TenantContext) => `users/${tc.principal.userId}`;

export function toApiTokenMessage(row: ApiTokenRecord) {
  return {
    name: tokenName(row.orgId, row.id),
    displayName: row.displayName,
    role: roleToProto(row.role as OrgRole),
    expireTime: row.expiresAt,
    createTime: row.createdAt,
    lastUseTime: row.lastUsedAt ?? undefined,
    creator: `users/${row.createdBy}`,
  };
}
