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
