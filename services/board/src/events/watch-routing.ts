import { Event } from '@taskmesh/gen/taskmesh/events/v1/event.js';
import { MemberRemoved, OrganizationDeleted, OrganizationSuspended } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import type { EventEnvelope } from '@taskmesh/runtime/events/envelope';

/** The board, list, task and comment events a WatchBoard stream carries. */
export const BOARD_STREAM_EVENT_TYPES = [
  'taskmesh.board.v1.BoardUpdated',
  'taskmesh.board.v1.BoardDeleted',
  'taskmesh.board.v1.ListCreated',
  'taskmesh.board.v1.ListUpdated',
  'taskmesh.board.v1.ListMoved',
  'taskmesh.board.v1.ListDeleted',
  'taskmesh.task.v1.TaskCreated',
  'taskmesh.task.v1.TaskUpdated',
  'taskmesh.task.v1.TaskMoved',
  'taskmesh.task.v1.TaskDeleted',
  'taskmesh.task.v1.TaskAssigned',
  'taskmesh.task.v1.TaskStatusChanged',
  'taskmesh.task.v1.CommentAdded',
  'taskmesh.task.v1.CommentDeleted',
] as const;

/**
 * Events that end a watcher's stream without being shown to it: its membership or its org ended, or the org
 * was suspended (every stream ends; its OWNERs may open a new one, WatchBoard being one of their reads).
 */
export const MEMBERSHIP_END_EVENT_TYPES = [
  'taskmesh.org.v1.MemberRemoved',
  'taskmesh.org.v1.OrganizationDeleted',
  'taskmesh.org.v1.OrganizationSuspended',
] as const;

export const WATCHED_EVENT_TYPES: readonly string[] = [...BOARD_STREAM_EVENT_TYPES, ...MEMBERSHIP_END_EVENT_TYPES];

export interface WatchTarget {
  /** organizations/{org}/boards/{board} */
  board: string;
  /** organizations/{org} */
  organization: string;
  /** users/{user}: the watcher. */
  user: string;
}

export type Route = 'ignore' | 'deliver' | 'deliver-and-end' | 'end';

const STREAMED = new Set<string>(BOARD_STREAM_EVENT_TYPES);

/**
 * What one event means for one watcher. Board events name the board, list events a list under it, task and
 * comment events a task under it (organizations/{org}/boards/{board}/tasks/...), so the resource name decides.
 */
export function routeFor(event: EventEnvelope, target: WatchTarget): Route {
  if (event.organization !== target.organization) return 'ignore';
  if (event.type === 'taskmesh.org.v1.OrganizationDeleted') {
    return OrganizationDeleted.decode(event.payload).organization === target.organization ? 'end' : 'ignore';
  }
  if (event.type === 'taskmesh.org.v1.MemberRemoved') {
    return MemberRemoved.decode(event.payload).user === target.user ? 'end' : 'ignore';
  }
  if (event.type === 'taskmesh.org.v1.OrganizationSuspended') {
    return OrganizationSuspended.decode(event.payload).organization === target.organization ? 'end' : 'ignore';
  }
  if (!STREAMED.has(event.type)) return 'ignore';
  if (event.resource !== target.board && !event.resource.startsWith(`${target.board}/`)) return 'ignore';
  if (event.type === 'taskmesh.board.v1.BoardDeleted' && event.resource === target.board) return 'deliver-and-end';
  return 'deliver';
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** The envelope as the taskmesh.events.v1.Event a WatchBoardResponse carries (payload packed as Any). */
export function eventMessage(event: EventEnvelope): Event {
  return {
    id: event.id,
    type: event.type,
    organization: event.organization,
    actor: event.actor,
    resource: event.resource,
    occurTime: event.occurTime,
    payload: { typeUrl: TYPE_URL_PREFIX + event.type, value: Buffer.from(event.payload) },
  };
}
