import { InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

export const MAX_DESCRIPTION = 1_000;
export const MAX_URL = 2_048;
export const WEBHOOK_FIELDS = ['url', 'event_types', 'description', 'state'] as const;
export type WebhookField = (typeof WEBHOOK_FIELDS)[number];

export function eventTypesViolation(types: readonly string[], known: readonly string[], field: string): FieldViolation | undefined {
  const unknown = types.filter((t) => !known.includes(t));
  return unknown.length ? { field, description: `unknown event type(s): ${unknown.slice(0, 5).join(', ')}` } : undefined;
}

export function descriptionViolation(description: string, field: string): FieldViolation | undefined {
  return description.length > MAX_DESCRIPTION ? { field, description: `must be at most ${MAX_DESCRIPTION} characters` } : undefined;
}

export function rejectViolations(violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length) throw new InvalidArgumentError(found);
}
