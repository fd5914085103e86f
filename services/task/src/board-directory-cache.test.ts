import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '@taskmesh/runtime/errors';
import { codeOf } from '@taskmesh/runtime/testing/grpc-assertions';
import type { BoardDirectory } from './board-directory.ts';
import { boardAnswerCache, cachedBoardDirectory } from './board-directory-cache.ts';

const ORG = 'o1';

/** A board service stand-in: boards with their lists in order; counts the calls that reach it. */
function fakeBoards(initial: Record<string, string[]>) {
  const boards = new Map(Object.entries(initial));
  const calls = { check: 0, order: 0 };
  const directory: BoardDirectory = {
    async check(orgId, boardId, listId) {
      calls.check++;
      const lists = orgId === ORG ? boards.get(boardId) : undefined;
      if (!lists) throw new NotFoundError(`organizations/${orgId}/boards/${boardId}`);
      return { listExists: listId ? lists.includes(listId) : false };
    },
    async listIdsInOrder(orgId, boardId) {
      calls.order++;
      const lists = orgId === ORG ? boards.get(boardId) : undefined;
      if (!lists) throw new NotFoundError(`organizations/${orgId}/boards/${boardId}`);
      return [...lists];
    },
  };
  return { boards, calls, directory };
}

function setup(ttlMs = 1_000) {
  const fake = fakeBoards({ b1: ['l1', 'l2'], b2: ['l3'] });
  const clock = { t: 0 };
  const cache = cachedBoardDirectory(fake.directory, boardAnswerCache({ maxBoards: 10_000, ttlMs, now: () => clock.t }));
  return { ...fake, clock, cache };
}


describe('the board directory cache', () => {
  it('answers a live board and its lists from memory until the ttl runs out, then asks the board service again', async () => {
    const { cache, calls, clock } = setup();
    expect(await cache.check(ORG, 'b1', 'l1')).toEqual({ listExists: true });
    expect(await cache.check(ORG, 'b1', 'l1')).toEqual({ listExists: true });
    expect(await cache.check(ORG, 'b1')).toEqual({ listExists: false });
    expect(await cache.check(ORG, 'b1')).toEqual({ listExists: false });
    expect(calls.check).toBe(2);
    clock.t = 1_000;
    await cache.check(ORG, 'b1', 'l1');
    expect(calls.check).toBe(3);
  });

  it('shares one call among concurrent askers', async () => {
    const { cache, calls } = setup();
    await Promise.all([cache.check(ORG, 'b1'), cache.check(ORG, 'b1'), cache.check(ORG, 'b1')]);
    await Promise.all([cache.listIdsInOrder(ORG, 'b1', 'Bearer x'), cache.listIdsInOrder(ORG, 'b1', 'Bearer y')]);
    expect(calls).toEqual({ check: 1, order: 1 });
  });

  it('never keeps a NOT_FOUND: a board that is not there is asked about every time', async () => {
    const { cache, calls, boards } = setup();
    expect(await codeOf(cache.check(ORG, 'nope'))).toBe(status.NOT_FOUND);
    expect(await codeOf(cache.check(ORG, 'nope'))).toBe(status.NOT_FOUND);
    expect(calls.check).toBe(2);
    boards.set('nope', []);
    expect(await codeOf(cache.check(ORG, 'nope'))).toBe(status.OK);
  });

  it('serves nothing of a board once its BoardDeleted event is applied, whatever the ttl', async () => {
    const { cache, boards } = setup(30_000);
    await cache.check(ORG, 'b1');
    await cache.listIdsInOrder(ORG, 'b1', undefined);
    boards.delete('b1');
    cache.evictFor({ type: 'taskmesh.board.v1.BoardDeleted', resource: `organizations/${ORG}/boards/b1`, organization: `organizations/${ORG}` });
    expect(await codeOf(cache.check(ORG, 'b1'))).toBe(status.NOT_FOUND);
    expect(await codeOf(cache.check(ORG, 'b1', 'l1'))).toBe(status.NOT_FOUND);
    expect(await codeOf(cache.listIdsInOrder(ORG, 'b1', undefined))).toBe(status.NOT_FOUND);
    // Other boards keep their entries.
    await cache.check(ORG, 'b2');
    expect(cache.size()).toBe(1);
  });

  it('reads the order of lists again after a list event of the board', async () => {
    const { cache, boards, calls } = setup(30_000);
    expect(await cache.listIdsInOrder(ORG, 'b1', undefined)).toEqual(['l1', 'l2']);
    boards.set('b1', ['l2', 'l1']);
    cache.evictFor({ type: 'taskmesh.board.v1.ListMoved', resource: `organizations/${ORG}/boards/b1/lists/l2`, organization: `organizations/${ORG}` });
    expect(await cache.listIdsInOrder(ORG, 'b1', undefined)).toEqual(['l2', 'l1']);
    expect(calls.order).toBe(2);
  });

  it('drops the cached order when a check finds a live list it does not hold (a list created since)', async () => {
    const { cache, boards } = setup(30_000);
    expect(await cache.listIdsInOrder(ORG, 'b1', undefined)).toEqual(['l1', 'l2']);
    boards.set('b1', ['l1', 'l2', 'l9']);
    expect(await cache.check(ORG, 'b1', 'l9')).toEqual({ listExists: true });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await cache.listIdsInOrder(ORG, 'b1', undefined)).toEqual(['l1', 'l2', 'l9']);
  });

  it('forgets every board of an organization on OrganizationDeleted', async () => {
    const { cache } = setup(30_000);
    await cache.check(ORG, 'b1');
    await cache.check(ORG, 'b2');
    cache.evictFor({ type: 'taskmesh.org.v1.OrganizationDeleted', resource: `organizations/${ORG}`, organization: `organizations/${ORG}` });
    expect(cache.size()).toBe(0);
  });

  it('passes every call through with a ttl of 0', async () => {
    const { cache, calls } = setup(0);
    await cache.check(ORG, 'b1');
    await cache.check(ORG, 'b1');
    await cache.listIdsInOrder(ORG, 'b1', undefined);
    await cache.listIdsInOrder(ORG, 'b1', undefined);
    expect(calls).toEqual({ check: 2, order: 2 });
    expect(cache.size()).toBe(0);
  });

  it('holds at most BOARD_CACHE_MAX_BOARDS boards and counts each answer as a hit or a miss', async () => {
    const fake = fakeBoards(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`b${i}`, ['l1']])));
    const boards = boardAnswerCache({ maxBoards: 4, ttlMs: 30_000 });
    const cache = cachedBoardDirectory(fake.directory, boards);
    for (let i = 0; i < 10; i++) await cache.check(ORG, `b${i}`);
    expect(cache.size()).toBeLessThanOrEqual(4);
    expect(boards.evictions).toBeGreaterThan(0);
    await cache.check(ORG, 'b9');
    await cache.check(ORG, 'b9', 'l1');
    await cache.check(ORG, 'b9', 'l1');
    expect([boards.hits, boards.misses]).toEqual([2, 11]);
    expect(fake.calls.check).toBe(11);
  });
});
