import { UserErased } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import type { EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { ORG_CONSUMER, type UserErasure } from '../db/user-erasure.ts';

const USER_NAME = /^users\/([^/]+)$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** An erased account's memberships end and the invitations to its address go (db/user-erasure.ts). */
export function userErasedSubscription(erasure: UserErasure): EventSubscription {
  return {
    consumer: ORG_CONSUMER,
    types: ['taskmesh.identity.v1.UserErased'],
    async handle(event) {
      const payload = UserErased.decode(event.payload);
      const userId = USER_NAME.exec(payload.user)?.[1];
      if (!userId || !isResourceId(userId)) return;
      await erasure.erase(event, userId, SHA256_HEX.test(payload.emailSha256) ? payload.emailSha256 : '');
    },
  };
}
