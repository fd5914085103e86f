import { Metadata, status as GrpcCode, type ServiceError } from '@grpc/grpc-js';
import type { BoardServiceClient } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { NotFoundError } from '@taskmesh/runtime/errors';
import { callUnary } from '@taskmesh/runtime/grpc-client';

/**
 * What the task service asks the board service before touching a board's tasks: does the board exist in
 * this org (not deleted), and is a list one of its live lists. Always called before any transaction opens.
 */
export interface BoardDirectory {
  /** NOT_FOUND when the board is not there (missing, deleted, or another org's); listExists for listId. */
  check(orgId: string, boardId: string, listId?: string): Promise<{ listExists: boolean }>;
  /**
   * The board's live list ids in board order, read as the caller (their `authorization` header), since the
   * order of lists is the board service's. NOT_FOUND when the board is not there.
   */
  listIdsInOrder(orgId: string, boardId: string, authorization: string | undefined): Promise<string[]>;
}

export const boardName = (orgId: string, boardId: string) => `organizations/${orgId}/boards/${boardId}`;
export const listName = (orgId: string, boardId: string, listId: string) => `${boardName(orgId, boardId)}/lists/${listId}`;

/** The directory backed by BoardService.CheckBoardList through its typed stub. */
export function boardDirectoryViaBoardService(client: BoardServiceClient, options: { timeoutMs?: number } = {}): BoardDirectory {
  return {
    async check(orgId, boardId, listId) {
      const name = boardName(orgId, boardId);
      try {
        const res = await callUnary(
          client,
          client.checkBoardList,
          { name, list: listId ? listName(orgId, boardId, listId) : '' },
          { metadata: new Metadata(), timeoutMs: options.timeoutMs ?? 5_000 },
        );
        return { listExists: res.listExists };
      } catch (err) {
        if ((err as ServiceError).code === GrpcCode.NOT_FOUND) throw new NotFoundError(name);
        throw err;
      }
    },
    async listIdsInOrder(orgId, boardId, authorization) {
      const parent = boardName(orgId, boardId);
      const metadata = new Metadata();
      if (authorization) metadata.set('authorization', authorization);
      const ids: string[] = [];
      let pageToken = '';
      try {
        do {
          const res = await callUnary(
            client,
            client.listLists,
            { parent, pageSize: 500, pageToken },
            { metadata, timeoutMs: options.timeoutMs ?? 5_000 },
          );
          for (const list of res.lists) ids.push(list.name.slice(list.name.lastIndexOf('/') + 1));
          pageToken = res.nextPageToken;
        } while (pageToken);
      } catch (err) {
        if ((err as ServiceError).code === GrpcCode.NOT_FOUND) throw new NotFoundError(parent);
        throw err;
      }
      return ids;
    },
  };
}
