import type { EntityManager } from '@mikro-orm/postgresql';
import { MemberAdded, MemberRemoved, MemberRoleChanged } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { PermanentEventError, type EventSubscription } from '@taskmesh/runtime/events/event-bus';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { deliveryBodyOf } from './event-json.ts';

/** Durable consumer name: replicas share it, so each event is fanned out once (and the insert is idempotent). */
export const WEBHOOK_CONSUMER = 'webhook';

const ORG_NAME = /^organizations\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** Keeps org_owners current from org's membership events (who is mailed when an endpoint is disabled). */
async function trackOwners(tx: EntityManager, orgId: string, event: ReceivedEvent): Promise<void> {
  const set = async (user: string, owner: boolean) => {
    if (owner) await tx.execute('insert into org_owners (org_id, user_name) values (?, ?) on conflict do nothing', [orgId, user]);
    else await tx.execute('delete from org_owners where org_id = ? and user_name = ?', [orgId, user]);
  };
  if (event.type === 'taskmesh.org.v1.MemberAdded') {
    const e = MemberAdded.decode(event.payload);
    if (e.role === Role.ROLE_OWNER) await set(e.user, true);
  } else if (event.type === 'taskmesh.org.v1.MemberRoleChanged') {
    const e = MemberRoleChanged.decode(event.payload);
    await set(e.user, e.newRole === Role.ROLE_OWNER);
  } else if (event.type === 'taskmesh.org.v1.MemberRemoved') {
    await set(MemberRemoved.decode(event.payload).user, false);
  }
}

/**
 * Keeps suspended_orgs current from org's OrganizationSuspended/Reactivated: the worker claims no delivery of
 * a suspended org. True when the org was reactivated (its pending deliveries are due again).
 */
async function trackSuspension(tx: EntityManager, orgId: string, event: ReceivedEvent): Promise<boolean> {
  if (event.type === 'taskmesh.org.v1.OrganizationSuspended') {
    await tx.execute(
      `insert into suspended_orgs (org_id, update_time) values (?, ?)
       on conflict (org_id) do update set update_time = greatest(suspended_orgs.update_time, excluded.update_time)`,
      [orgId, event.occurTime],
    );
  } else if (event.type === 'taskmesh.org.v1.OrganizationReactivated') {
    await tx.execute('delete from suspended_orgs where org_id = ? and update_time <= ?', [orgId, event.occurTime]);
    return true;
  }
  return false;
}

/**
 * The subscription that turns an org's events into deliveries: one row per active endpoint that wants the
 * event's type (plus its schedule row), in one transaction, then the worker is woken. Redeliveries insert
 * nothing new (unique per endpoint and event).
 */
export function webhookFanOutSubscription(em: EntityManager, types: readonly string[], wakeWorker: () => void): EventSubscription {
  return {
    consumer: WEBHOOK_CONSUMER,
    types,
    async handle(event) {
      const orgId = ORG_NAME.exec(event.organization)?.[1];
      if (!orgId) return;
      let body: string;
      try {
        body = deliveryBodyOf(event);
      } catch (err) {
        throw new PermanentEventError(`payload of ${event.type} ${event.id} does not decode: ${String(err)}`);
      }
      let reactivated = false;
      const created = await forkForOrg(em, orgId).transactional(async (tx) => {
        await trackOwners(tx, orgId, event);
        reactivated = await trackSuspension(tx, orgId, event);
        const rows = await tx.execute<{ id: string }[]>(
          `insert into deliveries (id, org_id, webhook_id, event_id, event_type, body, attempts, state, created_at)
           select gen_random_uuid(), org_id, id, ?, ?, ?, 0, 'PENDING', now() from webhooks
           where org_id = ? and state = 'ACTIVE' and (cardinality(event_types) = 0 or ? = any(event_types))
           on conflict (org_id, webhook_id, event_id) do nothing
           returning id`,
          [event.id, event.type, body, orgId, event.type],
        );
        for (const row of rows) {
          await tx.execute('insert into delivery_due (delivery_id, org_id, next_attempt_at) values (?, ?, now())', [row.id, orgId]);
        }
        return rows.length;
      });
      if (created > 0 || reactivated) wakeWorker();
    },
  };
}

