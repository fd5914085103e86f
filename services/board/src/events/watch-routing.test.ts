import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemberRemoved, OrganizationDeleted, OrganizationSuspended } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';
import { UnavailableError } from '@taskmesh/runtime/errors';
import { BoardWatchHub } from './board-watch-hub.ts';
import { routeFor, type WatchTarget } from './watch-routing.ts';

const org = `organizations/${randomUUID()}`;
const board = `${org}/boards/${randomUUID()}`;
const target: WatchTarget = { board, organization: org, user: `users/${randomUUID()}` };
const event = (type: string, resource: string, payload = new Uint8Array(), organization = org): EventEnvelope => ({
  id: randomUUID(),
  type,
  organization,
  actor: 'users/x',
  resource,
  occurTime: new Date(),
  payload,
});

describe('watch routing', () => {
  it('delivers the events of the board and of what lives under it, and nothing of a board whose id merely starts alike', () => {
    expect(routeFor(event('taskmesh.board.v1.BoardUpdated', board), target)).toBe('deliver');
    expect(routeFor(event('taskmesh.board.v1.ListMoved', `${board}/lists/${randomUUID()}`), target)).toBe('deliver');
    expect(routeFor(event('taskmesh.task.v1.CommentAdded', `${board}/tasks/t/comments/c`), target)).toBe('deliver');
    expect(routeFor(event('taskmesh.board.v1.BoardUpdated', `${board}0`), target)).toBe('ignore');
    expect(routeFor(event('taskmesh.board.v1.BoardCreated', board), target)).toBe('ignore');
    expect(routeFor(event('taskmesh.board.v1.BoardUpdated', board, undefined, `organizations/${randomUUID()}`), target)).toBe('ignore');
    expect(routeFor(event('taskmesh.board.v1.BoardDeleted', board), target)).toBe('deliver-and-end');
  });

  it("ends on the watcher's removal or the org's deletion, not on someone else's removal", () => {
    const removed = (user: string) =>
      event('taskmesh.org.v1.MemberRemoved', `${org}/members/x`, MemberRemoved.encode({ member: '', user, role: Role.ROLE_VIEWER, left: true }).finish());
    expect(routeFor(removed(target.user), target)).toBe('end');
    expect(routeFor(removed(`users/${randomUUID()}`), target)).toBe('ignore');
    const deleted = event('taskmesh.org.v1.OrganizationDeleted', org, OrganizationDeleted.encode({ organization: org, displayName: 'Acme' }).finish());
    expect(routeFor(deleted, target)).toBe('end');
    const suspended = (organization: string) =>
      event('taskmesh.org.v1.OrganizationSuspended', organization, OrganizationSuspended.encode({ organization, reason: 'unpaid' }).finish(), organization);
    expect(routeFor(suspended(org), target)).toBe('end');
    expect(routeFor(suspended(`organizations/${randomUUID()}`), target)).toBe('ignore');
  });

  it('the hub ends every stream with UNAVAILABLE when it closes (server shutdown), after what was already queued', async () => {
    const hub = new BoardWatchHub();
    const watch = hub.watch({ ...target, signal: new AbortController().signal });
    await hub.deliver(event('taskmesh.board.v1.BoardUpdated', board));
    hub.close();
    const seen: string[] = [];
    const ended = (async () => {
      for await (const e of watch.events) seen.push(e.type);
    })();
    await expect(ended).rejects.toBeInstanceOf(UnavailableError);
    expect(seen).toEqual(['taskmesh.board.v1.BoardUpdated']);
    expect(hub.size).toBe(0);
    // A watch that starts while the server stops fails the same way.
    const late = hub.watch({ ...target, signal: new AbortController().signal });
    await expect(late.events[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(UnavailableError);
  });
});
