import type { Logger } from 'pino';
import { PermanentEventError, type EventSubscription } from '@taskmesh/runtime/events/event-bus';
import type { ReceivedEvent } from '@taskmesh/runtime/events/envelope';
import { UserErased } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import { emailDigest } from '@taskmesh/runtime/email-addresses';
import { addressInEvent } from '@taskmesh/runtime/erased-addresses';
import type { AuditLog, NewAuditEntry } from '../db/audit-log.ts';
import { AUDITED_EVENT_TYPES, changesOf } from './audited-events.ts';

/** Durable consumer name: every audit replica shares it, so each event is recorded by one of them. */
export const AUDIT_CONSUMER = 'audit';

const ORG_NAME = /^organizations\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function entryOf(event: ReceivedEvent): NewAuditEntry {
  const orgId = ORG_NAME.exec(event.organization)?.[1];
  if (!orgId) throw new PermanentEventError(`audited event ${event.type} ${event.id} has no organization ("${event.organization}")`);
  let changes;
  let address;
  try {
    changes = changesOf(event.type, event.payload);
    address = addressInEvent(event.type, event.payload);
  } catch (err) {
    throw new PermanentEventError(`payload of ${event.type} ${event.id} does not decode: ${String(err)}`);
  }
  return {
    id: event.id,
    orgId,
    eventType: event.type,
    actor: event.actor,
    resource: event.resource,
    occurTime: event.occurTime,
    changes,
    payload: event.payload,
    subjectEmailSha256: address ? emailDigest(address) : null,
  };
}

/**
 * The subscription that fills the audit log: every audited event type (audited-events.ts), one row each.
 * An audited event that names no org, or whose payload does not decode as its type, can never be recorded:
 * it goes to the dead-letter path at once, for someone to look at, instead of being retried or dropped.
 */
export function auditSubscription(auditLog: AuditLog, log: Logger): EventSubscription {
  return {
    consumer: AUDIT_CONSUMER,
    types: AUDITED_EVENT_TYPES,
    async handle(event) {
      const recorded = await auditLog.record(entryOf(event));
      if (!recorded) log.debug({ eventId: event.id, eventType: event.type }, 'audit event already recorded; duplicate skipped');
    },
    // One transaction per batch. An entry that cannot be made throws here, and the bus retries the batch
    // event by event, so that event alone is dead-lettered.
    async handleBatch(events) {
      const recorded = await auditLog.recordBatch(events.map(entryOf));
      if (recorded.size < events.length) log.debug({ duplicates: events.length - recorded.size }, 'audit events already recorded; duplicates skipped');
    },
  };
}

/**
 * An erased account's address is blanked in the entries that carry it (its invitations); the entries stay,
 * and those the user made keep users/{id} as actor, whom identity now names "Deleted user".
 */
export function auditErasureSubscription(auditLog: AuditLog): EventSubscription {
  return {
    consumer: 'audit-erasure',
    types: ['taskmesh.identity.v1.UserErased'],
    async handle(event) {
      const { emailSha256 } = UserErased.decode(event.payload);
      if (/^[0-9a-f]{64}$/.test(emailSha256)) await auditLog.eraseAddress(emailSha256);
    },
  };
}
