import type { OrgRole } from '@taskmesh/runtime/membership-lookup';
import { NotFoundError } from '@taskmesh/runtime/errors';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { revokeTokensOutranking } from '../api-tokens.ts';
import { assertKeepsAnOwner, assertMayManage } from '../domain/member-rules.ts';
import type { MembershipChangeListener } from '../domain/membership-changes.ts';
import { assertCurrentEtag } from '../domain/organization-rules.ts';
import { memberRemoved, memberRoleChanged } from '../events/org-events.ts';
import type { IdentityDirectory } from '../identity-directory.ts';
import { memberName, type MemberView } from '../mapping.ts';
import { MembershipRecord } from './entities.ts';
import { after, keyOfRow, type Page, type TimeKey } from './keyset-pages.ts';
import { lockOrganization } from './organization-lock.ts';

/**
 * The membership aggregate's use cases, on the TenantContext's EntityManager. Profiles come from identity
 * after the read or the commit, never inside a transaction. Members join through Invitations.accept.
 */
export class Members {
  constructor(
    private readonly identity: IdentityDirectory,
    private readonly memberships: MembershipChangeListener,
  ) {}

  async list(tc: TenantContext, page: { pageSize: number; pageToken: string }): Promise<Page<MemberView>> {
    const size = pageSizeOf(page.pageSize);
    const query = `members:${tc.org.id}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const rows = await tc.em.find(MembershipRecord, after(cursor, 'createdAt', 'id'), {
      orderBy: { createdAt: 'asc', id: 'asc' },
      limit: size + 1,
    });
    const result = pageOf(rows, size, (m) => keyOfRow(m.createdAt, m.id), query);
    const profiles = await this.identity.profiles(result.items.map((m) => m.userId));
    return {
      items: result.items.map((membership) => ({ membership, profile: profiles.get(membership.userId) })),
      nextPageToken: result.nextPageToken,
    };
  }

  async updateRole(tc: TenantContext, targetUserId: string, role: OrgRole, etag: string): Promise<MemberView> {
    const name = memberName(tc.org.id, targetUserId);
    const updated = await tc.em.transactional(async (tx) => {
      await lockOrganization(tx, tc);
      const membership = await tx.findOne(MembershipRecord, { userId: targetUserId });
      if (!membership) throw new NotFoundError(name);
      assertCurrentEtag(etag, membership.version, name);
      const oldRole = membership.role as OrgRole;
      if (oldRole === role) return membership;
      assertMayManage(tc.role, oldRole, role);
      assertKeepsAnOwner(oldRole, role === 'OWNER', await tx.count(MembershipRecord, { role: 'OWNER' }));
      membership.role = role;
      membership.version += 1;
      membership.updatedAt = new Date();
      recordEvent(tx, memberRoleChanged(tc.org.id, targetUserId, oldRole, role, tc.principal.userId));
      await tx.flush();
      await revokeTokensOutranking(tx, tc.org.id, targetUserId, role, `users/${tc.principal.userId}`);
      return membership;
    });
    this.memberships.evict(tc.org.id, targetUserId);
    const profiles = await this.identity.profiles([targetUserId]);
    return { membership: updated, profile: profiles.get(targetUserId) };
  }

  /** Removes a member, or the caller leaves when the member is the caller. */
  async remove(tc: TenantContext, targetUserId: string): Promise<void> {
    const leaving = targetUserId === tc.principal.userId;
    await tc.em.transactional(async (tx) => {
      await lockOrganization(tx, tc);
      const membership = await tx.findOne(MembershipRecord, { userId: targetUserId });
      if (!membership) throw new NotFoundError(memberName(tc.org.id, targetUserId));
      const role = membership.role as OrgRole;
      if (!leaving) assertMayManage(tc.role, role);
      assertKeepsAnOwner(role, false, await tx.count(MembershipRecord, { role: 'OWNER' }));
      tx.remove(membership);
      recordEvent(tx, memberRemoved(tc.org.id, targetUserId, role, leaving, tc.principal.userId));
      await tx.flush();
      await revokeTokensOutranking(tx, tc.org.id, targetUserId, undefined, `users/${tc.principal.userId}`);
    });
    this.memberships.evict(tc.org.id, targetUserId);
  }
}
