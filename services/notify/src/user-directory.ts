import { credentials } from '@grpc/grpc-js';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import type { Person } from './domain/mails.ts';

/** Who a user is, for mail: address and display name by resource name (users/{user}). */
export interface UserDirectory {
  /** Unknown names are absent from the map. */
  lookup(names: readonly string[]): Promise<Map<string, Person>>;
  close(): void;
}

/** The identity service's BatchGetUsers: the one source of users' addresses and current names. */
export function identityUserDirectory(address: string): UserDirectory {
  const client = new IdentityServiceClient(address, credentials.createInsecure());
  return {
    async lookup(names) {
      const found = new Map<string, Person>();
      const unique = [...new Set(names)];
      for (let i = 0; i < unique.length; i += 500) {
        const res = await callUnary(client, client.batchGetUsers, { names: unique.slice(i, i + 500) }, { timeoutMs: 5_000 });
        for (const user of res.users) found.set(user.name, { email: user.email, displayName: user.displayName });
      }
      return found;
    },
    close: () => client.close(),
  };
}
