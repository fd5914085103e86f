import type { TaskServiceService } from '@taskmesh/gen/taskmesh/task/v1/task_service.js';
import { ALL_ROLES, type AccessTable, type TenantContext } from '@taskmesh/runtime/org-context';
import { isCreatorOrAssignee } from '../domain/task-rules.ts';
import type { Tasks } from '../domain/tasks.ts';
import { commentIdsOf, taskIdsOf } from './task-names.ts';

/**
 * Who may call which TaskService RPC (API.md "Roles"): everyone reads; OWNER, ADMIN and MEMBER create tasks
 * and comment; a MEMBER edits or moves only tasks they created or are assigned to, deletes only tasks they
 * created, and deletes only their own comments; only OWNER and ADMIN batch-update. VIEWER reads only. A
 * target that does not exist passes the predicate so the handler answers NOT_FOUND rather than PERMISSION_DENIED.
 */
export function taskAccessTable(tasks: Tasks) {
  const editable = async (name: string, tc: TenantContext, field: string) => {
    const ids = taskIdsOf(name, field);
    const task = await tasks.findForPermission(tc, ids.board, ids.task);
    return !task || isCreatorOrAssignee(task, tc.principal.userId);
  };
  return {
    createTask: { roles: ['OWNER', 'ADMIN', 'MEMBER'] },
    getTask: { roles: ALL_ROLES, whileSuspended: 'owners' },
    listTasks: { roles: ALL_ROLES, whileSuspended: 'owners' },
    searchTasks: { roles: ALL_ROLES, whileSuspended: 'owners' },
    updateTask: {
      roles: ['OWNER', 'ADMIN'],
      orIf: { roles: ['MEMBER'], holds: (req, tc) => editable(req.task?.name ?? '', tc, 'task.name') },
    },
    // All or nothing over up to 100 tasks, whoever created them: OWNER and ADMIN only (API.md "Roles").
    batchUpdateTasks: { roles: ['OWNER', 'ADMIN'] },
    moveTask: {
      roles: ['OWNER', 'ADMIN'],
      orIf: { roles: ['MEMBER'], holds: (req, tc) => editable(req.name, tc, 'name') },
    },
    deleteTask: {
      roles: ['OWNER', 'ADMIN'],
      orIf: {
        roles: ['MEMBER'],
        holds: async (req, tc) => {
          const ids = taskIdsOf(req.name);
          const task = await tasks.findForPermission(tc, ids.board, ids.task);
          return !task || task.creatorId === tc.principal.userId;
        },
      },
    },
    createComment: { roles: ['OWNER', 'ADMIN', 'MEMBER'] },
    listComments: { roles: ALL_ROLES, whileSuspended: 'owners' },
    deleteComment: {
      roles: ['OWNER', 'ADMIN'],
      orIf: {
        roles: ['MEMBER'],
        holds: async (req, tc) => {
          const ids = commentIdsOf(req.name);
          const comment = await tasks.findCommentForPermission(tc, ids.board, ids.task, ids.comment);
          return !comment || comment.authorId === tc.principal.userId;
        },
      },
    },
    // For BoardService's DeleteList check; no HTTP binding, so the edge cannot reach it.
    countListTasks: 'internal',
    // For the org service's AdminService.ListOrganizations; no HTTP binding.
    countOrganizationTasks: 'internal',
    // The attachment service's export worker reads the org's tasks and comments with it; no HTTP binding.
    exportOrganizationData: 'internal',
  } as const satisfies AccessTable<typeof TaskServiceService>;
}
