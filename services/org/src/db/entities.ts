import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** An organization is the tenant itself: its org_id equals its id (a check constraint says so). */
export const OrganizationRecord = defineEntity({
  name: 'OrganizationRecord',
  tableName: 'organizations',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    displayName: p.text(),
    /** Bumped on every change; the etag is derived from it. */
    version: p.integer(),
    createdBy: p.uuid(),
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    /** Soft delete: set, the organization and everything under it are gone for clients; purged after retention. */
    deletedAt: p.datetime().nullable(),
    /** FREE, TEAM or ENTERPRISE; set by platform administrators. */
    plan: p.text(),
    /** Set while a platform administrator has the organization suspended. */
    suspendedAt: p.datetime().nullable(),
    suspendReason: p.text().nullable(),
  },
});
export type OrganizationRecord = InferEntity<typeof OrganizationRecord>;

export const MembershipRecord = defineEntity({
  name: 'MembershipRecord',
  tableName: 'memberships',
  extends: TenantScoped,
  properties: {
    /** Surrogate key; (org_id, user_id) is unique. */
    id: p.uuid().primary(),
    userId: p.uuid(),
    role: p.text(),
    version: p.integer(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type MembershipRecord = InferEntity<typeof MembershipRecord>;

/** Tokens are stored as SHA-256 digests only. Pending = neither accepted nor revoked (expiry is checked by time). */
export const InvitationRecord = defineEntity({
  name: 'InvitationRecord',
  tableName: 'invitations',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    email: p.text(),
    emailNormalized: p.text(),
    role: p.text(),
    inviterId: p.uuid(),
    tokenHash: p.text().unique(),
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    acceptedAt: p.datetime().nullable(),
    acceptedBy: p.uuid().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
export type InvitationRecord = InferEntity<typeof InvitationRecord>;

/** API tokens: the secret is stored as its SHA-256 digest only; live = not revoked and not expired. */
export const ApiTokenRecord = defineEntity({
  name: 'ApiTokenRecord',
  tableName: 'api_tokens',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    displayName: p.text(),
    role: p.text(),
    tokenHash: p.text().unique(),
    createdBy: p.uuid(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    /** Refreshed at most once a minute, so resolving a token stays a read almost always. */
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});
export type ApiTokenRecord = InferEntity<typeof ApiTokenRecord>;

/** The platform audit log: one row per administration action (not tenant data: platform admins read it). */
export const PlatformAuditRecord = defineEntity({
  name: 'PlatformAuditRecord',
  tableName: 'platform_audit_events',
  properties: {
    id: p.uuid().primary(),
    actorId: p.uuid(),
    action: p.text(),
    /** The organization concerned; null for dead-letter actions. */
    orgId: p.uuid().nullable(),
    detail: p.text(),
    createdAt: p.datetime(),
  },
});
export type PlatformAuditRecord = InferEntity<typeof PlatformAuditRecord>;
