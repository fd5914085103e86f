import { InvalidArgumentError } from './errors.ts';

/**
 * AIP-158 pagination: page_size (default 50, max 500, negative rejected) and opaque cursor page tokens.
 * A token carries the sort key of the last row served plus a fingerprint of the query's filters, so a token
 * reused with different filters is rejected instead of silently returning the wrong page.
 */
export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

export function pageSizeOf(requested: number, field = 'page_size'): number {
  if (!Number.isInteger(requested) || requested < 0) {
    throw new InvalidArgumentError({ field, description: 'must be zero or positive' });
  }
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(requested, MAX_PAGE_SIZE);
}

export interface Cursor<K> {
  /** Sort key of the last item of the previous page. */
  after: K;
  /** Fingerprint of the filters the token was issued for. */
  query: string;
}

export function encodePageToken<K>(cursor: Cursor<K>): string {
  return Buffer.from(JSON.stringify({ v: 1, a: cursor.after, q: cursor.query }), 'utf8').toString('base64url');
}

/** Decodes a page token; empty means the first page. */
export function decodePageToken<K>(token: string, query: string, field = 'page_token'): K | undefined {
  if (!token) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidArgumentError({ field, description: 'is not a valid page token' });
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { v?: unknown }).v !== 1 || !('a' in parsed)) {
    throw new InvalidArgumentError({ field, description: 'is not a valid page token' });
  }
  if ((parsed as { q?: unknown }).q !== query) {
    throw new InvalidArgumentError({ field, description: 'was issued for a different query' });
  }
  return (parsed as { a: K }).a;
}

/**
 * Splits one extra fetched row off to decide whether there is a next page: fetch pageSize + 1 rows,
 * pass them here with the function that reads a row's sort key.
 */
export function pageOf<T, K>(rows: T[], pageSize: number, keyOf: (row: T) => K, query: string): { items: T[]; nextPageToken: string } {
  if (rows.length <= pageSize) return { items: rows, nextPageToken: '' };
  const items = rows.slice(0, pageSize);
  return { items, nextPageToken: encodePageToken({ after: keyOf(items[items.length - 1]!), query }) };
}
