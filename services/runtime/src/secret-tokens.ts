import { createHash, randomBytes } from 'node:crypto';

/** 256-bit random secret (refresh, reset and invitation tokens), URL-safe base64, 43 characters. */
export function newSecretToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Secrets are stored only as their SHA-256 digest (they are high-entropy, so no slow hash is needed). */
export function digestToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
