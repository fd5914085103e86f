import type { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { GenerationalCache } from '@taskmesh/runtime/generational-cache';
import { callUnary } from '@taskmesh/runtime/grpc-client';

/** Identity's answers by user id. */
export type PlatformAdminAnswers = GenerationalCache<string, { admin: boolean }>;

/** The cache of platform-admin answers (`platform_admin` in the metrics): at most maxEntries, each for ttlMs (0: none). */
export function platformAdminCache(options: { ttlMs: number; maxEntries: number; now?: () => number }): PlatformAdminAnswers {
  return new GenerationalCache({ name: 'platform_admin', unit: 'entries', budget: options.maxEntries, maxAgeMs: options.ttlMs, now: options.now });
}

/**
 * "Is this user a platform administrator?", asked of identity (CheckPlatformAdmin) and kept in `answers` per
 * user, so a grant or revoke takes effect within its maximum age. Both answers are cached: the admin RPCs are rare.
 */
export class PlatformAdminDirectory {
  constructor(
    private readonly identity: IdentityServiceClient,
    private readonly answers: PlatformAdminAnswers,
    private readonly settings: { timeoutMs: number },
  ) {}

  async isPlatformAdmin(userId: string): Promise<boolean> {
    const hit = this.answers.get(userId, undefined);
    if (hit !== undefined) return hit.admin;
    const { platformAdmin } = await callUnary(this.identity, this.identity.checkPlatformAdmin, { user: `users/${userId}` }, { timeoutMs: this.settings.timeoutMs });
    this.answers.set(userId, { admin: platformAdmin }, undefined);
    return platformAdmin;
  }
}
