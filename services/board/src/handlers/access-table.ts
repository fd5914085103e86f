import type { BoardServiceService } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { ALL_ROLES, type AccessTable } from '@taskmesh/runtime/org-context';

const BOARD_EDITORS = ['OWNER', 'ADMIN'] as const;

/**
 * Who may call which BoardService RPC (API.md "Roles": every member reads boards and lists; OWNER and ADMIN
 * create, update, move and delete them). The single place these decisions live.
 */
export const boardAccessTable = {
  createBoard: { roles: BOARD_EDITORS },
  listBoards: { roles: ALL_ROLES, whileSuspended: 'owners' },
  getBoard: { roles: ALL_ROLES, whileSuspended: 'owners' },
  updateBoard: { roles: BOARD_EDITORS },
  deleteBoard: { roles: BOARD_EDITORS },
  createList: { roles: BOARD_EDITORS },
  listLists: { roles: ALL_ROLES, whileSuspended: 'owners' },
  updateList: { roles: BOARD_EDITORS },
  deleteList: { roles: BOARD_EDITORS },
  moveList: { roles: BOARD_EDITORS },
  watchBoard: { roles: ALL_ROLES, whileSuspended: 'owners' },
  // For the task service; it has no HTTP binding, so the edge cannot reach it.
  checkBoardList: 'internal',
  // The attachment service's export worker reads the org's boards and lists with it; no HTTP binding.
  exportOrganizationData: 'internal',
} as const satisfies AccessTable<typeof BoardServiceService>;
