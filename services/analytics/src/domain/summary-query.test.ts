import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { daysOf, summaryQueryOf } from './summary-query.ts';

const ORG = '11111111-1111-4111-8111-111111111111';
const BOARD = '22222222-2222-4222-8222-222222222222';

describe('summaryQueryOf', () => {
  it('covers whole UTC days, both ends included', () => {
    const query = summaryQueryOf(ORG, { board: '', startTime: new Date('2026-03-01T23:59:00Z'), endTime: new Date('2026-03-03T00:00:01Z') });
    expect(query).toEqual({ orgId: ORG, boardId: undefined, firstDay: '2026-03-01', lastDay: '2026-03-03' });
    expect(daysOf(query)).toEqual(['2026-03-01', '2026-03-02', '2026-03-03']);
  });

  it('defaults to the 30 days ending today', () => {
    const query = summaryQueryOf(ORG, { board: '' }, new Date('2026-12-05T10:00:00Z'));
    expect([query.firstDay, query.lastDay]).toEqual(['2026-11-06', '2026-12-05']);
    expect(daysOf(query)).toHaveLength(30);
  });

  it('takes a board by name or id, and refuses another org\'s', () => {
    expect(summaryQueryOf(ORG, { board: `organizations/${ORG}/boards/${BOARD}` }).boardId).toBe(BOARD);
    expect(summaryQueryOf(ORG, { board: BOARD }).boardId).toBe(BOARD);
    expect(() => summaryQueryOf(ORG, { board: `organizations/${BOARD}/boards/${BOARD}` })).toThrow(InvalidArgumentError);
    expect(() => summaryQueryOf(ORG, { board: 'nope' })).toThrow(InvalidArgumentError);
  });

  it('refuses an end before the start and more than 366 days', () => {
    expect(() => summaryQueryOf(ORG, { board: '', startTime: new Date('2026-03-02T00:00:00Z'), endTime: new Date('2026-03-01T00:00:00Z') })).toThrow(/end_time/);
    expect(() => summaryQueryOf(ORG, { board: '', startTime: new Date('2025-01-01T00:00:00Z'), endTime: new Date('2026-01-01T00:00:00Z') })).not.toThrow();
    expect(() => summaryQueryOf(ORG, { board: '', startTime: new Date('2025-01-01T00:00:00Z'), endTime: new Date('2026-01-02T00:00:00Z') })).toThrow(/366/);
  });
});
