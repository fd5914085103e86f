import type { SignUpResponse } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import type { User } from '@taskmesh/gen/taskmesh/identity/v1/user.js';
import type { UserRecord } from './db/entities.ts';
import type { SignedIn } from './db/sessions.ts';

// The identity service's one mapping: resource names, and records to the messages of its API.

export const userName = (userId: string) => `users/${userId}`;

export function toUserMessage(user: UserRecord): User {
  return {
    name: userName(user.id),
    email: user.email,
    displayName: user.displayName,
    createTime: user.createdAt,
    updateTime: user.updatedAt,
    deleteTime: user.deletedAt ?? undefined,
  };
}

export function toSignedInMessage(result: SignedIn): SignUpResponse {
  return {
    user: toUserMessage(result.user),
    accessToken: result.accessToken,
    refreshToken: result.refreshToken,
    expiresIn: result.expiresIn,
    deviceToken: result.deviceToken ?? '',
  };
}
