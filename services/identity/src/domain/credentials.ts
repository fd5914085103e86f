import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;
const MAX_EMAIL_LENGTH = 254;
const MAX_DISPLAY_NAME_LENGTH = 100;
// A pragmatic address check: one @, a dot-separated domain with a 2+ letter top label, no spaces.
const EMAIL_PATTERN = /^[^\s@"<>()[\]\\,;:]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

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

export function passwordViolation(password: string, email: string, field = 'password'): FieldViolation | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    return { field, description: `must be at least ${MIN_PASSWORD_LENGTH} characters` };
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    return { field, description: `must be at most ${MAX_PASSWORD_LENGTH} characters` };
  }
  if (normalizeEmail(password) === normalizeEmail(email)) {
    return { field, description: 'must not be the e-mail address' };
  }
  return undefined;
}

export function displayNameViolation(name: string, field = 'display_name'): FieldViolation | undefined {
  const trimmed = name.trim();
  if (trimmed.length === 0) return { field, description: 'must not be empty' };
  if ([...trimmed].length > MAX_DISPLAY_NAME_LENGTH) {
    return { field, description: `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters` };
  }
  return undefined;
}

/** Throws one INVALID_ARGUMENT listing every violation found. */
export function assertValid(...violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length > 0) throw new InvalidArgumentError(found);
}

/** 256-bit random secret for refresh and reset tokens, URL-safe. */
export function newSecretToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Secrets are stored only as their SHA-256 digest (they are high-entropy, so no slow hash is needed). */
export function digestToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
