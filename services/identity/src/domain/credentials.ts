import { normalizeEmail } from '@taskmesh/runtime/email-addresses';
import { InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

// Shared with the org service's invitations.
export { emailViolation, normalizeEmail } from '@taskmesh/runtime/email-addresses';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;
const MAX_DISPLAY_NAME_LENGTH = 100;

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

// Shared with the org service's invitation tokens.
export { digestToken, newSecretToken } from '@taskmesh/runtime/secret-tokens';
