import type { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';

/**
 * "Is this user a platform administrator?", asked of identity (CheckPlatformAdmin) and kept for ttlMs per
 * user, so a grant or revoke takes effect within that long. Both answers are cached: the admin RPCs are rare.
 */
export class PlatformAdminDirectory {
  private readonly answers = new Map<string, { admin: boolean; expiresAt: number }>();

  constructor(
    private readonly identity: IdentityServiceClient,
    private readonly settings: { ttlMs: number; timeoutMs: number },
  ) {}

  async isPlatformAdmin(userId: string): Promise<boolean> {
    const hit = this.answers.get(userId);
    if (hit && hit.expiresAt > Date.now()) return hit.admin;
    const { platformAdmin } = await callUnary(this.identity, this.identity.checkPlatformAdmin, { user: `users/${userId}` }, { timeoutMs: this.settings.timeoutMs });
    if (this.answers.size >= 1_000) this.answers.clear();
    this.answers.set(userId, { admin: platformAdmin, expiresAt: Date.now() + this.settings.ttlMs });
    return platformAdmin;
  }
}
