import { isResourceId } from '@taskmesh/runtime/resource-names';
import { newSecretToken } from '@taskmesh/runtime/secret-tokens';

/**
 * An invitation token is the org's id (so acceptance can run bound to that org, under its row-level
 * security) and a 256-bit secret: "<org id, 22 chars base64url>.<secret, 43 chars>". Only its SHA-256 digest
 * is stored. Knowing the org id gives nothing without the secret.
 */
export function newInvitationToken(orgId: string): string {
  return `${Buffer.from(orgId.replaceAll('-', ''), 'hex').toString('base64url')}.${newSecretToken()}`;
}

/** The org an invitation token belongs to, or undefined when the token is malformed. */
export function orgIdOfInvitationToken(token: string): string | undefined {
  const match = /^([A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{43}$/.exec(token.trim());
  if (!match) return undefined;
  const hex = Buffer.from(match[1]!, 'base64url').toString('hex');
  if (hex.length !== 32) return undefined;
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return isResourceId(id) ? id : undefined;
}
