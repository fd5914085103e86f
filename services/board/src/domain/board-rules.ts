import { AbortedError, InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

export const MAX_DISPLAY_NAME_LENGTH = 200;
export const MAX_DESCRIPTION_LENGTH = 20_000;

/** Lengths count characters (code points), as a user would. */
const lengthOf = (value: string) => [...value].length;

export function displayNameViolation(value: string, field: string): FieldViolation | undefined {
  const trimmed = value.trim();
  if (trimmed.length === 0) return { field, description: 'must not be empty' };
  if (lengthOf(trimmed) > MAX_DISPLAY_NAME_LENGTH) {
    return { field, description: `must be at most ${MAX_DISPLAY_NAME_LENGTH} characters` };
  }
  return undefined;
}

export function descriptionViolation(value: string, field: string): FieldViolation | undefined {
  if (lengthOf(value) > MAX_DESCRIPTION_LENGTH) {
    return { field, description: `must be at most ${MAX_DESCRIPTION_LENGTH} characters` };
  }
  return undefined;
}

/** Throws one INVALID_ARGUMENT carrying every violation found, so a client can fix them all at once. */
export function rejectViolations(violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length > 0) throw new InvalidArgumentError(found);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** AIP-155: the request id is a client-chosen UUID; empty means "no idempotency asked for". */
export function requestIdOf(value: string, field = 'request_id'): string | undefined {
  if (value === '') return undefined;
  if (!UUID.test(value)) throw new InvalidArgumentError({ field, description: 'must be a UUID' });
  return value.toLowerCase();
}

/** Etags are opaque to clients; here, the row version. */
export function etagOf(version: number): string {
  return `v${version}`;
}

/** A non-empty etag that is not the current one means someone else changed the resource in between. */
export function assertFreshEtag(given: string, version: number, what: string): void {
  if (given !== '' && given !== etagOf(version)) {
    throw new AbortedError(`${what} was changed by someone else; read it again`, { reason: 'ETAG_MISMATCH' });
  }
}

const snakeCase = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The fields an update touches (AIP-134). With a mask: its paths (lowerCamel accepted too), each of which must
 * be writable; naming an output-only or unknown field is INVALID_ARGUMENT. Without one: every writable field
 * the client sent with a non-default value (proto3 cannot tell an empty string from an absent one).
 */
export function fieldsToUpdate<F extends string>(
  mask: readonly string[] | undefined,
  writable: readonly F[],
  present: Record<F, boolean>,
): F[] {
  if (!mask || mask.length === 0) return writable.filter((field) => present[field]);
  const fields = new Set<F>();
  for (const raw of mask) {
    const path = snakeCase(raw.trim());
    if (!(writable as readonly string[]).includes(path)) {
      throw new InvalidArgumentError({
        field: 'update_mask',
        description: `"${raw}" is not a writable field (writable: ${writable.join(', ')})`,
      });
    }
    fields.add(path as F);
  }
  return [...fields];
}
