import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { SessionEndReason } from '@taskmesh/gen/taskmesh/identity/v1/events.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { recordEvent } from '@taskmesh/runtime/outbox';
import { assertValid, digestToken, emailViolation, newSecretToken, normalizeEmail, passwordViolation } from '../domain/credentials.ts';
import type { Passwords } from '../domain/passwords.ts';
import { passwordResetRequested } from '../events/identity-events.ts';
import type { PasswordResetMail } from '../events/password-reset-mail.ts';
import type { AbuseLimits } from './abuse-limits.ts';
import { PasswordResetRecord, UserRecord } from './entities.ts';
import type { Caller, Sessions } from './sessions.ts';

/** The password-reset use cases: a mailed single-use token, then a new password that ends every session. */
export class PasswordResets {
  constructor(
    private readonly em: EntityManager,
    private readonly sessions: Sessions,
    private readonly limits: AbuseLimits,
    private readonly passwords: Passwords,
    private readonly mail: PasswordResetMail,
    private readonly settings: { resetTokenTtlMinutes: number },
  ) {}

  /** Always succeeds from the caller's point of view: whether the account exists is not revealed. */
  async request(emailInput: string, caller: Caller): Promise<void> {
    assertValid(emailViolation(emailInput));
    const email = normalizeEmail(emailInput);
    // Counted whether or not the account exists; over the per-e-mail limit nothing is mailed, silently.
    if (!(await this.limits.admitPasswordReset(caller.clientAddress, email))) return;
    const em = this.em.fork();
    const user = await em.findOne(UserRecord, { emailNormalized: email });
    if (!user) return;
    const token = newSecretToken();
    const now = new Date();
    await em.transactional(async (tx) => {
      tx.create(PasswordResetRecord, {
        id: randomUUID(),
        userId: user.id,
        tokenHash: digestToken(token),
        createdAt: now,
        expiresAt: new Date(now.getTime() + this.settings.resetTokenTtlMinutes * 60_000),
        usedAt: null,
      });
      recordEvent(tx, passwordResetRequested(user.id));
    });
    this.mail.send(user, token);
  }

  /** Single use; revokes every session of the user. */
  async reset(token: string, newPassword: string): Promise<void> {
    const em = this.em.fork();
    const reset = await em.findOne(PasswordResetRecord, { tokenHash: digestToken(token) });
    const now = new Date();
    if (!reset || reset.usedAt || reset.expiresAt <= now) {
      throw new InvalidArgumentError({ field: 'token', description: 'reset token is invalid, expired or already used' });
    }
    const user = await em.findOneOrFail(UserRecord, { id: reset.userId });
    assertValid(passwordViolation(newPassword, user.email, 'new_password'));
    const passwordHash = await this.passwords.hash(newPassword);
    const ended = await em.transactional(async (tx) => {
      const claimed = await tx.nativeUpdate(PasswordResetRecord, { id: reset.id, usedAt: null }, { usedAt: now });
      if (claimed === 0) {
        throw new InvalidArgumentError({ field: 'token', description: 'reset token is invalid, expired or already used' });
      }
      await tx.nativeUpdate(PasswordResetRecord, { userId: user.id, usedAt: null }, { usedAt: now });
      await tx.nativeUpdate(UserRecord, { id: user.id }, { passwordHash, updatedAt: now });
      return this.sessions.end(tx, {}, user.id, SessionEndReason.SESSION_END_REASON_PASSWORD_RESET);
    });
    this.sessions.remember(ended);
  }
}
