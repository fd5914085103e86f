import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from './errors.ts';
import { decodePageToken, pageOf, pageSizeOf } from './paging.ts';

describe('pagination', () => {
  it('defaults page size to 50, caps it at 500 and rejects negatives', () => {
    expect(pageSizeOf(0)).toBe(50);
    expect(pageSizeOf(10)).toBe(10);
    expect(pageSizeOf(10_000)).toBe(500);
    expect(() => pageSizeOf(-1)).toThrow(InvalidArgumentError);
    try {
      pageSizeOf(-1);
    } catch (err) {
      expect((err as InvalidArgumentError).code).toBe(status.INVALID_ARGUMENT);
      expect((err as InvalidArgumentError).violations[0]?.field).toBe('page_size');
    }
  });

  it('walks a list page by page with opaque tokens and ends with an empty token', () => {
    const all = Array.from({ length: 7 }, (_, i) => ({ id: i }));
    const seen: number[] = [];
    let token = '';
    for (let guard = 0; guard < 10; guard++) {
      const after = decodePageToken<number>(token, 'q');
      const rows = all.filter((r) => after === undefined || r.id > after).slice(0, 3 + 1);
      const page = pageOf(rows, 3, (r) => r.id, 'q');
      seen.push(...page.items.map((r) => r.id));
      token = page.nextPageToken;
      if (!token) break;
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('rejects garbage tokens and tokens issued for other filters', () => {
    expect(() => decodePageToken('!!!', 'q')).toThrow(/not a valid page token/);
    const token = pageOf([1, 2], 1, (n) => n, 'status=DONE').nextPageToken;
    expect(decodePageToken(token, 'status=DONE')).toBe(1);
    expect(() => decodePageToken(token, 'status=TODO')).toThrow(/different query/);
  });
});
