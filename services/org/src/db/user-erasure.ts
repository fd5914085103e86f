import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { processOnce } from '@taskmesh/runtime/events/processed-events';
import type { OrgRole } from '@taskmesh/runtime/membership-lookup';
import { ADDRESS_CARRYING_EVENT_TYPES, eventWithoutAddress } from '@taskmesh/runtime/erased-addresses';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { enterOrgInTransaction, forkForOrg } from '@taskmesh/runtime/tenancy';
import { revokeTokensOutranking } from '../api-tokens.ts';
import type { MembershipChangeListener } from '../domain/membership-changes.ts';
import { memberRemoved } from '../events/org-events.ts';
import { invitationName, orgName } from '../mapping.ts';
import { MembershipRecord, OrganizationRecord } from './entities.ts';

/** Session variable naming the erased address by its digest; migration 0004's policies admit its invitations. */
export const ERASED_EMAIL_SHA256_SETTING = 'app.erased_email_sha256';
export const ERASED_EMAIL_SHA256_SQL = `nullif(current_setting('${ERASED_EMAIL_SHA256_SETTING}', true), '')`;

/** A PostgreSQL text[] literal of resource names and type names (no quotes, commas or braces in them). */
const textArray = (values: readonly string[]) => `{${values.join(',')}}`;

/** Durable consumer name of the org service. */
export const ORG_CONSUMER = 'org';

/**
 * The org side of account erasure: before it, which organizations the user alone owns (identity refuses the
 * erasure then); after it (UserErased), the user's memberships end in every organization, each with its
 * MemberRemoved, and every invitation sent to their address goes, in one transaction with the event record.
 */
export class UserErasure {
  constructor(
    private readonly em: EntityManager,
    private readonly memberships: MembershipChangeListener,
    private readonly log: Logger,
  ) {}

  /** The user's own memberships across orgs, as the RLS policies allow with app.user_id set. */
  private userScope(userId: string, variables: Record<string, string> = {}): EntityManager {
    const em = this.em.fork({ clear: true });
    em.setSessionContext({ variables: { 'app.user_id': userId, ...variables } });
    return em;
  }

  /** organizations/{org} of the live organizations in which the user is the only OWNER. */
  async soleOwnerships(userId: string): Promise<string[]> {
    const scope = this.userScope(userId);
    const owned = await scope.find(MembershipRecord, { userId, role: 'OWNER' }, { fields: ['orgId'], filters: { tenant: false } });
    if (owned.length === 0) return [];
    const live = await scope.find(
      OrganizationRecord,
      { id: { $in: owned.map((m) => m.orgId) }, deletedAt: null },
      { fields: ['id'], filters: { tenant: false } },
    );
    const sole: string[] = [];
    for (const { id } of live) {
      if ((await forkForOrg(this.em, id).count(MembershipRecord, { role: 'OWNER' })) <= 1) sole.push(orgName(id));
    }
    return sole;
  }

  /** Handles UserErased once: memberships and invitations of the erased user go. */
  async erase(event: ReceivedEvent, userId: string, emailSha256: string): Promise<void> {
    const scope = this.userScope(userId, emailSha256 ? { [ERASED_EMAIL_SHA256_SETTING]: emailSha256 } : {});
    const ended: { orgId: string; role: OrgRole }[] = [];
    await processOnce(scope, ORG_CONSUMER, async (_event, tx) => {
      const rows = await tx.execute<{ org_id: string; role: OrgRole }[]>(
        'select org_id, role from memberships where user_id = ? order by org_id',
        [userId],
      );
      for (const { org_id: orgId, role } of rows) {
        // Each org's rows under that org's binding, as any tenant write.
        await enterOrgInTransaction(tx, orgId);
        await tx.execute('delete from memberships where org_id = ? and user_id = ?', [orgId, userId]);
        recordEvent(tx, memberRemoved(orgId, userId, role, true, userId));
        await revokeTokensOutranking(tx, orgId, userId, undefined, `users/${userId}`);
        ended.push({ orgId, role });
      }
      if (emailSha256) {
        const invitations = await tx.execute<{ org_id: string; id: string }[]>(
          "delete from invitations where encode(sha256(convert_to(email_normalized, 'UTF8')), 'hex') = ? returning org_id, id",
          [emailSha256],
        );
        // Their events stay in the outbox (published or not) with the address blanked.
        const resources = invitations.map((i) => invitationName(i.org_id, i.id));
        if (resources.length > 0) {
          const events = await tx.execute<{ id: string; type: string; payload: Buffer }[]>(
            'select id, type, payload from outbox where resource = any(?::text[]) and type = any(?::text[])',
            [textArray(resources), textArray(ADDRESS_CARRYING_EVENT_TYPES)],
          );
          for (const event of events) {
            await tx.execute('update outbox set payload = ? where id = ?', [Buffer.from(eventWithoutAddress(event.type, event.payload)), event.id]);
          }
        }
      }
      await tx.flush();
    })(event);
    for (const { orgId } of ended) this.memberships.evict(orgId, userId);
    // Identity checked before the erasure that another OWNER remains; one may have left since.
    for (const { orgId, role } of ended) {
      if (role !== 'OWNER') continue;
      const org = forkForOrg(this.em, orgId);
      if ((await org.count(OrganizationRecord, { id: orgId, deletedAt: null })) > 0 && (await org.count(MembershipRecord, { role: 'OWNER' })) === 0) {
        this.log.warn({ organization: orgName(orgId) }, 'an erased account was the last OWNER of this organization when its membership ended');
      }
    }
  }
}
