import { parseName } from '@taskmesh/runtime/resource-names';

/** Resource names of the board service (AIP-122); ids are UUIDs. */
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
