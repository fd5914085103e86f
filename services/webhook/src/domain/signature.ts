import { createHmac, randomBytes } from 'node:crypto';

/** Standard Webhooks secrets: `whsec_` + base64 of the key bytes; 32 random bytes here (the spec asks ≥ 24). */
export const SECRET_PREFIX = 'whsec_';

export function newSigningSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The additional authenticated data a secret (current or previous) is sealed with: it opens only for its own endpoint. */
export const secretAad = (orgId: string, webhookId: string) => `webhook:${orgId}:${webhookId}`;

/** `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key being the bytes after `whsec_`. */
export function signatureOf(secret: string, id: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')}`;
}

/**
 * The `webhook-signature` header: one `v1,…` per secret, space-separated as the spec allows, the current
 * secret first (during a rotation's grace period the replaced one follows, so either verifies).
 */
export function signatureHeaderOf(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  return secrets.map((secret) => signatureOf(secret, id, timestampSeconds, body)).join(' ');
}

/** Whether a rotation's previous secret still signs at `now` (its grace period has not ended). */
export const previousSecretActive = (expireTime: Date | null | undefined, now: Date): expireTime is Date => !!expireTime && expireTime.getTime() > now.getTime();
