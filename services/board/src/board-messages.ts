import type { Board, List } from '@taskmesh/gen/taskmesh/board/v1/board.js';
import type { BoardRecord, ListRecord } from './db/entities.ts';
import { etagOf } from './domain/board-rules.ts';
import { boardNameOf, listNameOf, userNameOf } from './resource-names.ts';

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
