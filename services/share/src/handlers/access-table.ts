import type { ShareServiceService } from '@taskmesh/gen/taskmesh/share/v1/share_service.js';
import type { AccessTable } from '@taskmesh/runtime/org-context';

const LINK_MANAGERS = ['OWNER', 'ADMIN', 'MEMBER'] as const;

/**
 * Who may call which ShareService RPC (API.md "Roles": OWNER, ADMIN and MEMBER create and revoke share links
 * for tasks they can read, which for a member is every task of the org; VIEWER does not). The two reads of a
 * shared task take no token at all: the code is the credential.
 */
export const shareAccessTable = {
  createShareLink: { roles: LINK_MANAGERS },
  listShareLinks: { roles: LINK_MANAGERS, whileSuspended: 'owners' },
  deleteShareLink: { roles: LINK_MANAGERS },
  getSharedTask: 'public',
  openSharedTask: 'public',
} as const satisfies AccessTable<typeof ShareServiceService>;
