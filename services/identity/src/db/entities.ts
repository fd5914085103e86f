import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import type { JWK } from 'jose';

export const UserRecord = defineEntity({
  name: 'UserRecord',
  tableName: 'users',
  properties: {
    id: p.uuid().primary(),
    email: p.text(),
    /** Lower-cased e-mail; unique, so sign-up is case-insensitive. */
    emailNormalized: p.text().unique(),
    displayName: p.text(),
    passwordHash: p.text(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    /** Set when the account was erased: the row then holds no personal data (users.ts, erase). */
    deletedAt: p.datetime().nullable(),
  },
});
export type UserRecord = InferEntity<typeof UserRecord>;

/** A signed-in session: one chain of refresh tokens. Revoking it ends every token of the chain. */
export const SessionRecord = defineEntity({
  name: 'SessionRecord',
  tableName: 'sessions',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid().index(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    revokeReason: p.text().nullable(),
  },
});
export type SessionRecord = InferEntity<typeof SessionRecord>;

/** Refresh tokens are stored as SHA-256 digests only; spentAt marks a rotated one (reuse detection). */
export const RefreshTokenRecord = defineEntity({
  name: 'RefreshTokenRecord',
  tableName: 'refresh_tokens',
  properties: {
    id: p.uuid().primary(),
    sessionId: p.uuid().index(),
    tokenHash: p.text().unique(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    spentAt: p.datetime().nullable(),
  },
});
export type RefreshTokenRecord = InferEntity<typeof RefreshTokenRecord>;

export const PasswordResetRecord = defineEntity({
  name: 'PasswordResetRecord',
  tableName: 'password_resets',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid().index(),
    tokenHash: p.text().unique(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
});
export type PasswordResetRecord = InferEntity<typeof PasswordResetRecord>;

/**
 * Ed25519 signing keys. The newest unretired key signs; every key not yet retired is in the JWKS. The private
 * key is stored sealed (AES-256-GCM under the KEK, key-encryption.ts); privateJwk is only set on rows written
 * before that, until the service seals them at start.
 */
export const SigningKeyRecord = defineEntity({
  name: 'SigningKeyRecord',
  tableName: 'signing_keys',
  properties: {
    kid: p.text().primary(),
    privateJwk: p.json<JWK>().nullable(),
    privateKeySealed: p.text().nullable(),
    publicJwk: p.json<JWK>(),
    createdAt: p.datetime(),
    /** Set when a newer key takes over signing; the key stays published until its last token expires. */
    supersededAt: p.datetime().nullable(),
  },
});
export type SigningKeyRecord = InferEntity<typeof SigningKeyRecord>;

/**
 * A device that logged in successfully: its token (stored as a SHA-256 digest) lets the owner log in again
 * without waiting for delays that someone else's failures caused. It proves nothing without the password.
 */
export const KnownDeviceRecord = defineEntity({
  name: 'KnownDeviceRecord',
  tableName: 'known_devices',
  properties: {
    id: p.uuid().primary(),
    userId: p.uuid().index(),
    tokenHash: p.text().unique(),
    createdAt: p.datetime(),
    expiresAt: p.datetime(),
  },
});
export type KnownDeviceRecord = InferEntity<typeof KnownDeviceRecord>;

/** A platform administrator granted by `npm run admin:grant` (PLATFORM_ADMIN_EMAILS names the others). */
export const PlatformAdminRecord = defineEntity({
  name: 'PlatformAdminRecord',
  tableName: 'platform_admins',
  properties: {
    emailNormalized: p.text().primary(),
    grantedAt: p.datetime(),
  },
});
export type PlatformAdminRecord = InferEntity<typeof PlatformAdminRecord>;
