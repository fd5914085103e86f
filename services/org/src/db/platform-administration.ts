import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import type { MembershipChangeListener } from '../domain/membership-changes.ts';
import { MAX_SUSPEND_REASON, type OrgState, type Plan } from '../domain/platform-rules.ts';
import { organizationPlanChanged, organizationReactivated, organizationSuspended } from '../events/org-events.ts';
import { MembershipRecord, OrganizationRecord, PlatformAuditRecord } from './entities.ts';
import { after, keyOfRow, type Page, type TimeKey } from './keyset-pages.ts';

const MAX_PAGE = 200;

/**
 * The platform administration's use cases (AdminService). Reading every organization is the one cross-org
 * scope of platform administrators: RLS shows organizations and memberships read-only when
 * app.platform_admin is 'on', set here only. Every change runs bound to its org, writes its event through
 * the outbox and its platform audit row in the same transaction.
 */
export class PlatformAdministration {
  constructor(
    private readonly em: EntityManager,
    private readonly memberships: MembershipChangeListener,
  ) {}

  private adminScope(): EntityManager {
    const em = this.em.fork({ clear: true });
    em.setSessionContext({ variables: { 'app.platform_admin': 'on' } });
    return em;
  }

  /** Every organization (soft-deleted ones until purged), oldest first, with member counts. */
  async list(filter: { state?: OrgState }, page: { pageSize: number; pageToken: string }) {
    const size = Math.min(pageSizeOf(page.pageSize), MAX_PAGE);
    const query = `admin-orgs:${filter.state ?? ''}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const em = this.adminScope();
    const state =
      filter.state === 'ACTIVE'
        ? { deletedAt: null, suspendedAt: null }
        : filter.state === 'SUSPENDED'
          ? { deletedAt: null, suspendedAt: { $ne: null } }
          : filter.state === 'DELETED'
            ? { deletedAt: { $ne: null } }
            : {};
    const rows = await em.find(
      OrganizationRecord,
      { ...state, ...after(cursor, 'createdAt', 'id') },
      { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1, filters: { tenant: false } },
    );
    const orgs: Page<OrganizationRecord> = pageOf(rows, size, (o) => keyOfRow(o.createdAt, o.id), query);
    const memberCounts = await this.memberCounts(em, orgs.items.map((o) => o.id));
    return { items: orgs.items.map((org) => ({ org, memberCount: memberCounts.get(org.id) ?? 0 })), nextPageToken: orgs.nextPageToken };
  }

  async get(orgId: string) {
    const em = this.adminScope();
    const org = await em.findOne(OrganizationRecord, { id: orgId }, { filters: { tenant: false } });
    if (!org) throw new NotFoundError(`organizations/${orgId}`);
    return { org, memberCount: (await this.memberCounts(em, [orgId])).get(orgId) ?? 0 };
  }

  private async memberCounts(em: EntityManager, orgIds: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const orgId of orgIds) counts.set(orgId, await em.count(MembershipRecord, { orgId }, { filters: { tenant: false } }));
    return counts;
  }

  async suspend(actorId: string, orgId: string, reason: string) {
    const trimmed = reason.trim();
    if (!trimmed) throw new InvalidArgumentError({ field: 'reason', description: 'is required' });
    if (trimmed.length > MAX_SUSPEND_REASON) throw new InvalidArgumentError({ field: 'reason', description: `at most ${MAX_SUSPEND_REASON} characters` });
    await this.change(orgId, (tx, org) => {
      if (org.suspendedAt) throw new FailedPreconditionError(`organizations/${orgId} is already suspended`, { reason: 'ORG_ALREADY_SUSPENDED' });
      org.suspendedAt = new Date();
      org.suspendReason = trimmed;
      recordEvent(tx, organizationSuspended(orgId, trimmed, actorId));
      this.audit(tx, actorId, 'SuspendOrganization', orgId, trimmed);
    });
    return this.get(orgId);
  }

  async reactivate(actorId: string, orgId: string) {
    await this.change(orgId, (tx, org) => {
      if (!org.suspendedAt) throw new FailedPreconditionError(`organizations/${orgId} is not suspended`, { reason: 'ORG_NOT_SUSPENDED' });
      org.suspendedAt = null;
      org.suspendReason = null;
      recordEvent(tx, organizationReactivated(orgId, actorId));
      this.audit(tx, actorId, 'ReactivateOrganization', orgId, '');
    });
    return this.get(orgId);
  }

  async setPlan(actorId: string, orgId: string, plan: Plan) {
    await this.change(orgId, (tx, org) => {
      if (org.plan === plan) return false;
      const old = org.plan as Plan;
      org.plan = plan;
      recordEvent(tx, organizationPlanChanged(orgId, old, plan, actorId));
      this.audit(tx, actorId, 'UpdateOrganization', orgId, `plan ${old} → ${plan}`);
      return true;
    });
    return this.get(orgId);
  }

  /** A dead-letter action: platform audit log only (it concerns no organization). */
  async recordDeadLetterAction(actorId: string, action: string, detail: string): Promise<void> {
    const em = this.em.fork({ clear: true });
    this.audit(em, actorId, action, null, detail);
    await em.flush();
  }

  /** The platform audit log, newest first. */
  async auditLog(filter: { orgId?: string }, page: { pageSize: number; pageToken: string }): Promise<Page<PlatformAuditRecord>> {
    const size = Math.min(pageSizeOf(page.pageSize), MAX_PAGE);
    const query = `platform-audit:${filter.orgId ?? ''}`;
    const cursor = decodePageToken<TimeKey>(page.pageToken, query);
    const before = cursor
      ? { $or: [{ createdAt: { $lt: new Date(cursor[0]) } }, { createdAt: new Date(cursor[0]), id: { $lt: cursor[1] } }] }
      : {};
    const rows = await this.em.fork({ clear: true }).find(
      PlatformAuditRecord,
      { ...(filter.orgId ? { orgId: filter.orgId } : {}), ...before },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: size + 1 },
    );
    return pageOf(rows, size, (r) => keyOfRow(r.createdAt, r.id), query);
  }

  /** Locks the org, applies `apply` (false: nothing changed) and commits with its event and audit row. */
  private async change(orgId: string, apply: (tx: EntityManager, org: OrganizationRecord) => boolean | void): Promise<void> {
    await forkForOrg(this.em, orgId).transactional(async (tx) => {
      const org = await tx.findOne(OrganizationRecord, { id: orgId, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!org) throw new NotFoundError(`organizations/${orgId}`);
      if (apply(tx, org) === false) return;
      org.version += 1;
      org.updatedAt = new Date();
      await tx.flush();
    });
    this.memberships.evictOrganization(orgId);
  }

  private audit(em: EntityManager, actorId: string, action: string, orgId: string | null, detail: string): void {
    em.create(PlatformAuditRecord, { id: randomUUID(), actorId, action, orgId, detail, createdAt: new Date() });
  }
}
