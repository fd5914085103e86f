import type { Board, List } from '@taskmesh/gen/taskmesh/board/v1/board.js';
import { parseName } from '@taskmesh/runtime/resource-names';
import type { BoardRecord, ListRecord } from './db/entities.ts';
import { etagOf } from './domain/board-rules.ts';

// The board service's one mapping: resource names (AIP-122) and records to the messages of its API and events.

/** Ids are UUIDs. */
export const BOARD_PATTERN = 'organizations/{org}/boards/{board}';
export const LIST_PATTERN = 'organizations/{org}/boards/{board}/lists/{list}';

export interface BoardRef {
  orgId: string;
  boardId: string;
}
export interface ListRef extends BoardRef {
  listId: string;
}

export const boardNameOf = (orgId: string, boardId: string) => `organizations/${orgId}/boards/${boardId}`;
export const listNameOf = (orgId: string, boardId: string, listId: string) =>
  `${boardNameOf(orgId, boardId)}/lists/${listId}`;
export const userNameOf = (userId: string) => `users/${userId}`;

/** Wrong shape → INVALID_ARGUMENT on `field`; an id that cannot exist → NOT_FOUND. */
export function parseBoardName(name: string, field = 'name'): BoardRef {
  const ids = parseName<'org' | 'board'>(name, BOARD_PATTERN, field);
  return { orgId: ids.org, boardId: ids.board };
}

export function parseListName(name: string, field = 'name'): ListRef {
  const ids = parseName<'org' | 'board' | 'list'>(name, LIST_PATTERN, field);
  return { orgId: ids.org, boardId: ids.board, listId: ids.list };
}

/** Records → API messages; used by the handlers and by the event payloads, so both show the same resource. */
export function boardMessage(board: BoardRecord): Board {
  return {
    name: boardNameOf(board.orgId, board.id),
    displayName: board.displayName,
    description: board.description,
    etag: etagOf(board.version),
    creator: userNameOf(board.createdBy),
    createTime: board.createdAt,
    updateTime: board.updatedAt,
  };
}

export function listMessage(list: ListRecord): List {
  return {
    name: listNameOf(list.orgId, list.boardId, list.id),
    displayName: list.displayName,
    position: list.position,
    etag: etagOf(list.version),
    createTime: list.createdAt,
    updateTime: list.updatedAt,
  };
}
