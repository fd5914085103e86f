import { InvitationCreated, InvitationRevoked } from '@taskmesh/gen/taskmesh/org/v1/events.js';

/**
 * The event types whose payload carries someone's e-mail address (invitations name the invitee's), and how
 * to read or blank it: the org service's outbox and the audit log keep such payloads, and erasing an account
 * blanks its address in them (the rest of the entry stays).
 */
const ADDRESSES: Record<string, { read(payload: Uint8Array): string; blank(payload: Uint8Array): Uint8Array }> = {
  'taskmesh.org.v1.InvitationCreated': {
    read: (payload) => InvitationCreated.decode(payload).invitation?.email ?? '',
    blank: (payload) => {
      const event = InvitationCreated.decode(payload);
      if (event.invitation) event.invitation.email = '';
      return InvitationCreated.encode(event).finish();
    },
  },
  'taskmesh.org.v1.InvitationRevoked': {
    read: (payload) => InvitationRevoked.decode(payload).email,
    blank: (payload) => InvitationRevoked.encode({ ...InvitationRevoked.decode(payload), email: '' }).finish(),
  },
};

export const ADDRESS_CARRYING_EVENT_TYPES: readonly string[] = Object.keys(ADDRESSES);

/** The e-mail address an event's payload carries, if its type carries one. */
export function addressInEvent(type: string, payload: Uint8Array): string | undefined {
  return ADDRESSES[type]?.read(payload) || undefined;
}

/** The payload with its e-mail address blanked (unchanged for types that carry none). */
export function eventWithoutAddress(type: string, payload: Uint8Array): Uint8Array {
  return ADDRESSES[type]?.blank(payload) ?? payload;
}
