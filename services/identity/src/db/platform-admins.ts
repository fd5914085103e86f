import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { emailViolation, normalizeEmail } from '@taskmesh/runtime/email-addresses';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { PlatformAdminRecord, UserRecord } from './entities.ts';

/**
 * Who is a platform administrator: the addresses in PLATFORM_ADMIN_EMAILS plus those granted in the
 * platform_admins table. Keyed by address, so a grant may precede the sign-up.
 */
export class PlatformAdmins {
  private readonly configured: ReadonlySet<string>;

  constructor(
    private readonly em: EntityManager,
    configuredEmails: string | undefined,
  ) {
    this.configured = new Set((configuredEmails ?? '').split(',').map(normalizeEmail).filter(Boolean));
  }

  async isAdmin(userId: string): Promise<boolean> {
    const em = this.em.fork({ clear: true });
    const user = await em.findOne(UserRecord, { id: userId }, { fields: ['emailNormalized'] });
    if (!user) return false;
    if (this.configured.has(user.emailNormalized)) return true;
    return (await em.count(PlatformAdminRecord, { emailNormalized: user.emailNormalized })) > 0;
  }

  /** Grants the address; true when it was not granted before. */
  async grant(email: string): Promise<boolean> {
    const violation = emailViolation(email);
    if (violation) throw new InvalidArgumentError(violation);
    const em = this.em.fork({ clear: true });
    const emailNormalized = normalizeEmail(email);
    if (await em.count(PlatformAdminRecord, { emailNormalized })) return false;
    try {
      em.create(PlatformAdminRecord, { emailNormalized, grantedAt: new Date() });
      await em.flush();
      return true;
    } catch (err) {
      if (err instanceof UniqueConstraintViolationException) return false;
      throw err;
    }
  }

  /** Revokes a grant; true when there was one. Addresses in PLATFORM_ADMIN_EMAILS stay administrators. */
  async revoke(email: string): Promise<boolean> {
    return (await this.em.fork({ clear: true }).nativeDelete(PlatformAdminRecord, { emailNormalized: normalizeEmail(email) })) > 0;
  }

  isConfigured(email: string): boolean {
    return this.configured.has(normalizeEmail(email));
  }
}
