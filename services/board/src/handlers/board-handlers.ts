import type { BoardServiceService } from '@taskmesh/gen/taskmesh/board/v1/board_service.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import type { TenantAwareService, TenantContext } from '@taskmesh/runtime/org-context';
import { exportContext, forEachPaged } from '@taskmesh/runtime/org-export';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import type { Boards } from '../db/boards.ts';
import type { ListTaskCounter, Lists } from '../db/lists.ts';
import type { Placement } from '../domain/list-order.ts';
import { requestIdOf } from '../domain/board-rules.ts';
import type { BoardWatchHub } from '../events/board-watch-hub.ts';
import { eventMessage } from '../events/watch-routing.ts';
import { boardMessage, listMessage, parseBoardName, parseListName, type BoardRef, type ListRef } from '../mapping.ts';
import type { boardAccessTable } from './access-table.ts';

/** The chain resolved the org from this same name; the ids must agree (they always do, by construction). */
function boardRefIn(context: TenantContext, name: string, field: string): BoardRef {
  const ref = parseBoardName(name, field);
  if (ref.orgId !== context.org.id) throw new InvalidArgumentError({ field, description: 'names another organization' });
  return ref;
}
function listRefIn(context: TenantContext, name: string, field: string): ListRef {
  const ref = parseListName(name, field);
  if (ref.orgId !== context.org.id) throw new InvalidArgumentError({ field, description: 'names another organization' });
  return ref;
}

/** A list anchor of MoveList must be a list of the same board; anything else is INVALID_ARGUMENT on its field. */
function anchorIdOf(value: string, field: string, of: ListRef): string {
  let anchor: ListRef;
  try {
    anchor = parseListName(value, field);
  } catch {
    throw new InvalidArgumentError({ field, description: 'must name a list of the same board' });
  }
  if (anchor.orgId !== of.orgId || anchor.boardId !== of.boardId) {
    throw new InvalidArgumentError({ field, description: 'must name a list of the same board' });
  }
  return anchor.listId;
}

/** A list name that is malformed or under another board is simply "not a list of this board". */
function listIdUnder(board: BoardRef, value: string): string | undefined {
  try {
    const ref = parseListName(value, 'list');
    return ref.orgId === board.orgId && ref.boardId === board.boardId ? ref.listId : undefined;
  } catch {
    return undefined;
  }
}

/** Proto ⇄ use cases; no rules here. */
export function boardHandlers(
  { boards, lists }: { boards: Boards; lists: Lists },
  deps: { countListTasks: (list: string, context: TenantContext) => Promise<number>; watchHub: BoardWatchHub; watchHeartbeatMs: number },
): TenantAwareService<typeof BoardServiceService, typeof boardAccessTable> {
  return {
    async createBoard(req, context) {
      const board = await boards.createBoard(context, {
        displayName: req.board?.displayName ?? '',
        description: req.board?.description ?? '',
        requestId: requestIdOf(req.requestId),
      });
      return { board: boardMessage(board) };
    },

    async listBoards(req, context) {
      const page = await boards.listBoards(context, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { boards: page.boards.map(boardMessage), nextPageToken: page.nextPageToken };
    },

    async getBoard(req, context) {
      return { board: boardMessage(await boards.getBoard(context, boardRefIn(context, req.name, 'name'))) };
    },

    async updateBoard(req, context) {
      if (!req.board) throw new InvalidArgumentError({ field: 'board', description: 'is required' });
      const board = await boards.updateBoard(context, boardRefIn(context, req.board.name, 'board.name'), {
        displayName: req.board.displayName,
        description: req.board.description,
        etag: req.board.etag,
        updateMask: req.updateMask,
      });
      return { board: boardMessage(board) };
    },

    async deleteBoard(req, context) {
      await boards.deleteBoard(context, boardRefIn(context, req.name, 'name'), req.etag);
      return {};
    },

    async createList(req, context) {
      const list = await lists.createList(context, boardRefIn(context, req.parent, 'parent'), {
        displayName: req.list?.displayName ?? '',
        requestId: requestIdOf(req.requestId),
      });
      return { list: listMessage(list) };
    },

    async listLists(req, context) {
      const page = await lists.listLists(context, boardRefIn(context, req.parent, 'parent'), {
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return { lists: page.lists.map(listMessage), nextPageToken: page.nextPageToken };
    },

    async updateList(req, context) {
      if (!req.list) throw new InvalidArgumentError({ field: 'list', description: 'is required' });
      const list = await lists.updateList(context, listRefIn(context, req.list.name, 'list.name'), {
        displayName: req.list.displayName,
        etag: req.list.etag,
        updateMask: req.updateMask,
      });
      return { list: listMessage(list) };
    },

    async deleteList(req, context) {
      const counter: ListTaskCounter = (list) => deps.countListTasks(list, context);
      await lists.deleteList(context, listRefIn(context, req.name, 'name'), { force: req.force, etag: req.etag }, counter);
      return {};
    },

    async moveList(req, context) {
      const ref = listRefIn(context, req.name, 'name');
      let placement: Placement = { end: true };
      if (req.beforeList !== undefined && req.beforeList !== '') {
        placement = { before: anchorIdOf(req.beforeList, 'before_list', ref) };
      } else if (req.afterList !== undefined && req.afterList !== '') {
        placement = { after: anchorIdOf(req.afterList, 'after_list', ref) };
      }
      return { list: listMessage(await lists.moveList(context, ref, { placement, etag: req.etag })) };
    },

    async watchBoard(req, context, stream) {
      const ref = boardRefIn(context, req.name, 'name');
      let heartbeat: NodeJS.Timeout | undefined;
      // Registered before the board is checked, so nothing committed after the check can be missed.
      const watch = deps.watchHub.watch({
        board: req.name,
        organization: context.org.name,
        user: `users/${context.principal.userId}`,
        signal: context.call.signal,
      });
      try {
        await boards.getBoard(context, ref);
        // Established: headers go now, so a client can tell a quiet stream from a stuck one, and a message
        // without an event (a heartbeat) follows every interval, so proxies keep the stream and clients detect a dead one.
        stream.sendHeaders();
        heartbeat = setInterval(() => context.call.signal.aborted || stream.write({ event: undefined }), deps.watchHeartbeatMs);
        for await (const event of watch.events) stream.write({ event: eventMessage(event) });
      } finally {
        clearInterval(heartbeat);
        watch.close();
      }
    },

    async checkBoardList(req, context) {
      const ref = parseBoardName(req.name, 'name');
      const listId = req.list ? listIdUnder(ref, req.list) : undefined;
      const result = await boards.checkBoardList(forkForOrg(context.em, ref.orgId), ref, listId);
      return { board: boardMessage(result.board), listExists: result.listExists };
    },

    async exportOrganizationData(req, ic, stream) {
      const tc = exportContext(ic, req.name);
      await forEachPaged(
        stream,
        async (pageToken, pageSize) => {
          const page = await boards.listBoards(tc, { pageToken, pageSize });
          return { items: page.boards, nextPageToken: page.nextPageToken };
        },
        async (board) => {
          stream.write({ board: boardMessage(board) });
          await forEachPaged(
            stream,
            async (pageToken, pageSize) => {
              const page = await lists.listLists(tc, { orgId: tc.org.id, boardId: board.id }, { pageToken, pageSize });
              return { items: page.lists, nextPageToken: page.nextPageToken };
            },
            (list) => stream.write({ list: listMessage(list) }),
          );
        },
      );
    },
  };
}
