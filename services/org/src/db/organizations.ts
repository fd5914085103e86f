import { randomUUID } from 'node:crypto';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '@taskmesh/runtime/access-tokens';
import { NotFoundError } from '@taskmesh/runtime/errors';
import type { TenantContext } from '@taskmesh/runtime/org-context';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import type { MembershipChangeListener } from '../domain/membership-changes.ts';
import { assertCurrentEtag, assertValid, orgDisplayNameViolation } from '../domain/organization-rules.ts';
import { memberAdded, organizationCreated, organizationDeleted, organizationUpdated } from '../events/org-events.ts';
import { MembershipRecord, OrganizationRecord } from './entities.ts';
import { after, keyOfRow, type Page, type TimeKey } from './keyset-pages.ts';
import { lockOrganization } from './organization-lock.ts';

/**
 * The organization aggregate's use cases. Creating and listing start without an org: creation binds the new
 * one itself (forkForOrg); listing uses the one cross-org read scope (userScope). The rest run on the
 * TenantContext's EntityManager, bound to the org by the org-context chain.
 */
export class Organizations {
  constructor(
    private readonly em: EntityManager,
    private readonly memberships: MembershipChangeListener,
  ) {}

  /**
   * The one cross-org read scope: the caller's own memberships and the organizations they belong to, as the
   * RLS policies allow with app.user_id set. The tenant filter is off only for queries made here.
   */
  private userScope(userId: string): EntityManager {
    const em = this.em.fork({ clear: true });
    em.setSessionContext({ variables: { 'app.user_id': userId } });
    return em;
  }

  async create(principal: Principal, input: { displayName: string; requestId: string }): Promise<OrganizationRecord> {
    assertValid(orgDisplayNameViolation(input.displayName, 'organization.display_name'));
    const requestId = input.requestId.trim() || null;
    if (requestId) {
      const earlier = await this.createdWith(principal.userId, requestId);
      if (earlier) return earlier;
    }
    const id = randomUUID();
    const em = forkForOrg(this.em, id);
    const now = new Date();
    try {
      return await em.transactional(async (tx) => {
        const org = tx.create(OrganizationRecord, {
          id,
          orgId: id,
          displayName: input.displayName.trim(),
          version: 1,
          createdBy: principal.userId,
          createRequestId: requestId,
          createdAt: now,
          updatedAt: now,
          deletedAt: null,
          plan: 'FREE',
          suspendedAt: null,
          suspendReason: null,
        });
        // Plain id columns, not ORM relations: the unit of work can't order the inserts, so the org goes first.
        await tx.flush();
        tx.create(MembershipRecord, {
          id: randomUUID(),
          orgId: id,
          userId: principal.userId,
          role: 'OWNER',
          version: 1,
          createdAt: now,
          updatedAt: now,
        });
        recordEvent(tx, organizationCreated(org, principal.userId));
        recordEvent(tx, memberAdded(id, principal.userId, 'OWNER', undefined, principal.userId));
        await tx.flush();
        return org;
      });
    } catch (err) {
      // A concurrent retry with the same request id won the race: answer with its result.
      if (requestId && err instanceof UniqueConstraintViolationException) {
        const earlier = await this.createdWith(principal.userId, requestId);
        if (earlier) return earlier;
      }
      throw err;
    }
  }

  private async createdWith(userId: string, requestId: string): Promise<OrganizationRecord | null> {
    return this.userScope(userId).findOne(
      OrganizationRecord,
      { createdBy: userId, createRequestId: requestId, deletedAt: null },
      { filters: { tenant: false } },
    );
  }

  /** The caller's organizations, oldest first. */
  async list(principal: Principal, page: { pageSize: number; pageToken: string }): Promise<Page<OrganizationRecord>> {
    const size = pageSizeOf(page.pageSize);
    const query = `orgs:${principal.userId}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const em = this.userScope(principal.userId);
    const mine = await em.find(MembershipRecord, { userId: principal.userId }, { fields: ['orgId'], filters: { tenant: false } });
    if (mine.length === 0) return { items: [], nextPageToken: '' };
    const rows = await em.find(
      OrganizationRecord,
      { id: { $in: mine.map((m) => m.orgId) }, deletedAt: null, ...after(cursor, 'createdAt', 'id') },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1, filters: { tenant: false } },
    );
    return pageOf(rows, size, (o) => keyOfRow(o.createdAt, o.id), query);
  }

  async get(tc: TenantContext): Promise<OrganizationRecord> {
    const org = await tc.em.findOne(OrganizationRecord, { id: tc.org.id, deletedAt: null });
    if (!org) throw new NotFoundError(tc.org.name);
    return org;
  }

  async update(tc: TenantContext, changes: { displayName?: string }, etag: string): Promise<OrganizationRecord> {
    if (changes.displayName !== undefined) {
      assertValid(orgDisplayNameViolation(changes.displayName, 'organization.display_name'));
    }
    return tc.em.transactional(async (tx) => {
      const org = await lockOrganization(tx, tc);
      assertCurrentEtag(etag, org.version, tc.org.name);
      const fieldChanges = [];
      const displayName = changes.displayName?.trim();
      if (displayName !== undefined && displayName !== org.displayName) {
        fieldChanges.push({ field: 'display_name', oldValue: org.displayName, newValue: displayName });
        org.displayName = displayName;
      }
      if (fieldChanges.length === 0) return org;
      org.version += 1;
      org.updatedAt = new Date();
      recordEvent(tx, organizationUpdated(org, fieldChanges, tc.principal.userId));
      await tx.flush();
      return org;
    });
  }

  /** Soft delete; the purge removes the rows after the retention. */
  async delete(tc: TenantContext, etag: string): Promise<void> {
    await tc.em.transactional(async (tx) => {
      const org = await lockOrganization(tx, tc);
      assertCurrentEtag(etag, org.version, tc.org.name);
      org.deletedAt = new Date();
      org.updatedAt = org.deletedAt;
      org.version += 1;
      recordEvent(tx, organizationDeleted(org, tc.principal.userId));
      await tx.flush();
    });
    this.memberships.evictOrganization(tc.org.id);
  }
}
