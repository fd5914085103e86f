import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { isResourceId, parseName } from '@taskmesh/runtime/resource-names';

/** Resource names of the task service's requests → ids. */
export type BoardIds = { org: string; board: string };
export type TaskIds = BoardIds & { task: string };

export const BOARD_PATTERN = 'organizations/{org}/boards/{board}';
export const TASK_PATTERN = 'organizations/{org}/boards/{board}/tasks/{task}';
export const COMMENT_PATTERN = 'organizations/{org}/boards/{board}/tasks/{task}/comments/{comment}';
export const LIST_PATTERN = 'organizations/{org}/boards/{board}/lists/{list}';

export const boardIdsOf = (name: string, field = 'parent') => parseName<'org' | 'board'>(name, BOARD_PATTERN, field);
export const taskIdsOf = (name: string, field = 'name') => parseName<'org' | 'board' | 'task'>(name, TASK_PATTERN, field);
export const commentIdsOf = (name: string, field = 'name') =>
  parseName<'org' | 'board' | 'task' | 'comment'>(name, COMMENT_PATTERN, field);

/**
 * A list named in a request must be a list of the request's board: another board's list, or a name that
 * cannot be a list at all, is INVALID_ARGUMENT on that field (an unknown list of this board is found out by
 * CheckBoardList).
 */
export function listIdOf(name: string, board: BoardIds, field: string): string {
  const match = /^organizations\/([^/]+)\/boards\/([^/]+)\/lists\/([^/]+)$/.exec(name);
  if (!match) throw new InvalidArgumentError({ field, description: `must be ${LIST_PATTERN}` });
  const [, org, boardId, list] = match;
  if (org !== board.org || boardId !== board.board) {
    throw new InvalidArgumentError({ field, description: 'must be a list of the task\'s board' });
  }
  if (!isResourceId(list!)) throw new InvalidArgumentError({ field, description: 'is not a list of this board' });
  return list!;
}

/** A task named as a move anchor must be on the same board. */
export function anchorTaskIdOf(name: string, board: BoardIds, field: string): string {
  const match = /^organizations\/([^/]+)\/boards\/([^/]+)\/tasks\/([^/]+)$/.exec(name);
  if (!match) throw new InvalidArgumentError({ field, description: `must be ${TASK_PATTERN}` });
  const [, org, boardId, task] = match;
  if (org !== board.org || boardId !== board.board || !isResourceId(task!)) {
    throw new InvalidArgumentError({ field, description: 'must be a task of the target list' });
  }
  return task!;
}

/** users/{user} → id, for filters. */
export function userFilterOf(name: string, field: string): string | undefined {
  if (!name) return undefined;
  const match = /^users\/([^/]+)$/.exec(name);
  if (!match || !isResourceId(match[1]!)) throw new InvalidArgumentError({ field, description: 'must be users/{user}' });
  return match[1]!;
}
