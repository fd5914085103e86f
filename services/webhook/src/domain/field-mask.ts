import { InvalidArgumentError } from '@taskmesh/runtime/errors';

const snakeCase = (path: string) => path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The fields an update touches (AIP-134): the mask's paths (lowerCamel accepted), each writable; without a
 * mask, every writable field sent with a non-default value.
 */
export function fieldsToUpdate<F extends string>(mask: readonly string[] | undefined, writable: readonly F[], present: Record<F, boolean>): F[] {
  if (!mask || mask.length === 0) return writable.filter((field) => present[field]);
  const fields = new Set<F>();
  for (const raw of mask) {
    const path = snakeCase(raw.trim());
    if (!(writable as readonly string[]).includes(path)) {
      throw new InvalidArgumentError({ field: 'update_mask', description: `"${raw}" is not a writable field (writable: ${writable.join(', ')})` });
    }
    fields.add(path as F);
  }
  return [...fields];
}
