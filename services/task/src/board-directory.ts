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
  };
}
