import { AbortedError, InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

const MAX_DISPLAY_NAME_LENGTH = 100;

export function orgDisplayNameViolation(name: string, field: string): FieldViolation | undefined {
  const trimmed = name.trim();
  if (trimmed.length === 0) return { field, description: 'must not be empty' };
  if ([...trimmed].length > MAX_DISPLAY_NAME_LENGTH) {
    return { field, description: `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters` };
  }
  return undefined;
}

/** Etags are opaque to clients; here, the row version. */
export function etagOf(version: number): string {
  return `v${version}`;
}

/** Throws when a non-empty etag is not the current version's. */
export function assertCurrentEtag(etag: string, version: number, resource: string): void {
  if (etag && etag !== etagOf(version)) {
    throw new AbortedError(`${resource} was changed by someone else; read it again and retry`, { reason: 'ETAG_MISMATCH' });
  }
}

/** Throws INVALID_ARGUMENT with every violation found. */
export function assertValid(...violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length > 0) throw new InvalidArgumentError(found);
}
