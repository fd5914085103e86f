import { InvalidArgumentError } from '@taskmesh/runtime/errors';

export interface Page<T> {
  items: T[];
  nextPageToken: string;
}

/** A page token's position: (creation time, id) of the last row returned. */
export type TimeKey = [string, string];

export const keyOfRow = (time: Date, id: string): TimeKey => [time.toISOString(), id];

/** Keyset condition "after (time, id)" in ascending order. */
export function after(key: TimeKey | undefined, timeField: string, idField: string): object {
  if (!key) return {};
  const time = new Date(key[0]);
  if (Number.isNaN(time.getTime()) || typeof key[1] !== 'string') {
    throw new InvalidArgumentError({ field: 'page_token', description: 'is not a valid page token' });
  }
  return { $or: [{ [timeField]: { $gt: time } }, { [timeField]: time, [idField]: { $gt: key[1] } }] };
}
