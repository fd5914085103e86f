import type { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { UnauthenticatedError } from '@taskmesh/runtime/errors';
import { callUnary } from '@taskmesh/runtime/grpc-client';

export interface UserProfile {
  email: string;
  displayName: string;
}

/** Profiles from the identity service (BatchGetUsers), for member lists and invitation acceptance. */
export class IdentityDirectory {
  constructor(private readonly client: IdentityServiceClient) {}

  /** Profiles by user id; unknown ids are absent from the map. */
  async profiles(userIds: string[]): Promise<Map<string, UserProfile>> {
    const found = new Map<string, UserProfile>();
    for (let i = 0; i < userIds.length; i += 500) {
      const names = userIds.slice(i, i + 500).map((id) => `users/${id}`);
      const res = await callUnary(this.client, this.client.batchGetUsers, { names }, { timeoutMs: 5_000 });
      for (const user of res.users) found.set(user.name.slice('users/'.length), { email: user.email, displayName: user.displayName });
    }
    return found;
  }

  /** The signed-in caller's profile; a token for a user that no longer exists is not a signed-in user. */
  async profileOf(userId: string): Promise<UserProfile> {
    const profile = (await this.profiles([userId])).get(userId);
    if (!profile) throw new UnauthenticatedError('the signed-in user no longer exists', { reason: 'USER_GONE' });
    return profile;
  }
}
