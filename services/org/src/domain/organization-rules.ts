import type { FieldViolation } from '@taskmesh/runtime/errors';

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
