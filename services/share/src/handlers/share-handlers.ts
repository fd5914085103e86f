import type { ShareServiceService } from '@taskmesh/gen/taskmesh/share/v1/share_service.js';
import type { SharedTask } from '@taskmesh/gen/taskmesh/share/v1/share_link.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { clientAddressOf } from '@taskmesh/runtime/client-address';
import type { TenantAwareService, TenantContext } from '@taskmesh/runtime/org-context';
import { parseName } from '@taskmesh/runtime/resource-names';
import { shareLinkMessage, type Actor, type SharedTaskView, type ShareLinks, type TaskRef } from '../share-links.ts';
import type { shareAccessTable } from './access-table.ts';

const TASK_PATTERN = 'organizations/{org}/boards/{board}/tasks/{task}';
const LINK_PATTERN = `${TASK_PATTERN}/shareLinks/{link}`;

const actorOf = (context: TenantContext): Actor => ({
  em: context.em,
  orgId: context.org.id,
  userId: context.principal.userId,
  call: context.call,
});

function taskRefIn(context: TenantContext, name: string, field: string): TaskRef {
  const ids = parseName<'org' | 'board' | 'task'>(name, TASK_PATTERN, field);
  if (ids.org !== context.org.id) throw new InvalidArgumentError({ field, description: 'names another organization' });
  return { orgId: ids.org, boardId: ids.board, taskId: ids.task };
}

function sharedTaskMessage(view: SharedTaskView): { task: SharedTask; expireTime: Date } {
  const { dueTime, ...rest } = view.task;
  return { task: { ...rest, ...(dueTime ? { dueTime } : {}) }, expireTime: view.expireTime };
}

/** Proto ⇄ use cases; no rules here. */
export function shareHandlers(links: ShareLinks): TenantAwareService<typeof ShareServiceService, typeof shareAccessTable> {
  return {
    async createShareLink(req, context) {
      const ref = taskRefIn(context, req.parent, 'parent');
      const requestId = req.requestId.trim();
      const { link, url } = await links.create(actorOf(context), ref, {
        expireTime: req.shareLink?.expireTime,
        password: req.shareLink?.password ?? '',
        requestId: requestId || undefined,
      });
      return { shareLink: shareLinkMessage(link), url };
    },

    async listShareLinks(req, context) {
      const ref = taskRefIn(context, req.parent, 'parent');
      const page = await links.list(actorOf(context), ref, { pageSize: req.pageSize, pageToken: req.pageToken });
      return { shareLinks: page.links.map(shareLinkMessage), nextPageToken: page.nextPageToken };
    },

    async deleteShareLink(req, context) {
      const ids = parseName<'org' | 'board' | 'task' | 'link'>(req.name, LINK_PATTERN, 'name');
      const ref = taskRefIn(context, `organizations/${ids.org}/boards/${ids.board}/tasks/${ids.task}`, 'name');
      await links.revoke(actorOf(context), ref, ids.link);
      return {};
    },

    async getSharedTask(req, context) {
      return sharedTaskMessage(await links.open(req.code, undefined, clientAddressOf(context.call)));
    },

    async openSharedTask(req, context) {
      return sharedTaskMessage(await links.open(req.code, req.password, clientAddressOf(context.call)));
    },
  };
}
