import { createHash } from 'node:crypto';
import type { FieldViolation } from './errors.ts';

const MAX_EMAIL_LENGTH = 254;
// A pragmatic address check: one @, a dot-separated domain with a 2+ letter top label, no spaces.
const EMAIL_PATTERN = /^[^\s@"<>()[\]\\,;:]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** Addresses compare case-insensitively everywhere (sign-up, log-in, invitations). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function emailViolation(email: string, field = 'email'): FieldViolation | undefined {
  const trimmed = email.trim();
  if (trimmed.length === 0) return { field, description: 'is required' };
  if (trimmed.length > MAX_EMAIL_LENGTH || !EMAIL_PATTERN.test(trimmed)) {
    return { field, description: 'must be a valid e-mail address' };
  }
  return undefined;
}

/**
 * Lower-case hex SHA-256 of the normalized address: how an erased account's address is named in events, so
 * services find their copies of it without the address itself travelling (PostgreSQL computes the same with
 * `encode(sha256(convert_to(<normalized>, 'UTF8')), 'hex')`).
 */
export function emailDigest(email: string): string {
  return createHash('sha256').update(normalizeEmail(email), 'utf8').digest('hex');
}
