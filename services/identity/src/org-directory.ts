import type { OrgServiceClient } from '@taskmesh/gen/taskmesh/org/v1/org_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';

/** What identity asks the org service: where a user is the only OWNER (before erasing their account). */
export class OrgDirectory {
  constructor(private readonly client: OrgServiceClient) {}

  /** organizations/{org} of every live organization whose only OWNER the user is. */
  async soleOwnerships(userId: string): Promise<string[]> {
    const res = await callUnary(this.client, this.client.listSoleOwnerships, { user: `users/${userId}` }, { timeoutMs: 5_000 });
    return res.organizations;
  }
}
