import { InvalidArgumentError, NotFoundError } from './errors.ts';

/** Server-assigned ids are UUIDs; anything else cannot name an existing resource. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isResourceId(value: string): boolean {
  return UUID.test(value);
}

/**
 * The org of a tenant resource name, organizations/{org}[/...]. A name of another shape is INVALID_ARGUMENT;
 * a well-shaped name whose id cannot exist is NOT_FOUND, exactly like an org the caller cannot see.
 */
export function orgIdOf(name: string, field = 'name'): string {
  const match = /^organizations\/([^/]+)(?:\/.*)?$/.exec(name);
  if (!match) throw new InvalidArgumentError({ field, description: 'must be a resource name under organizations/{org}' });
  const id = match[1]!;
  if (!isResourceId(id)) throw new NotFoundError(`organizations/${id}`);
  return id;
}

/**
 * The ids of a resource name matching a pattern of alternating collection segments and {placeholders}, e.g.
 * parseName('organizations/a/members/b', 'organizations/{org}/members/{user}') → { org: 'a', user: 'b' }.
 * Wrong shape → INVALID_ARGUMENT on `field`; an id that cannot exist → NOT_FOUND for the name.
 */
export function parseName<K extends string>(name: string, pattern: string, field = 'name'): Record<K, string> {
  const want = pattern.split('/');
  const got = name.split('/');
  if (got.length !== want.length) throw new InvalidArgumentError({ field, description: `must be ${pattern}` });
  const ids: Record<string, string> = {};
  want.forEach((segment, i) => {
    const value = got[i]!;
    const placeholder = /^\{(\w+)\}$/.exec(segment);
    if (!placeholder) {
      if (value !== segment) throw new InvalidArgumentError({ field, description: `must be ${pattern}` });
      return;
    }
    if (value.length === 0) throw new InvalidArgumentError({ field, description: `must be ${pattern}` });
    ids[placeholder[1]!] = value;
  });
  for (const value of Object.values(ids)) if (!isResourceId(value)) throw new NotFoundError(name);
  return ids as Record<K, string>;
}

/** users/{user} → the user id (INVALID_ARGUMENT otherwise). */
export function userIdOf(name: string, field = 'user'): string {
  const match = /^users\/([0-9a-f-]{36})$/.exec(name);
  if (!match || !isResourceId(match[1]!)) throw new InvalidArgumentError({ field, description: 'must be users/{user}' });
  return match[1]!;
}
