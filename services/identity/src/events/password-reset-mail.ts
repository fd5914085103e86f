import type { Logger } from 'pino';
import type { Mailer } from '@taskmesh/runtime/mail';

/**
 * Mails a password-reset token after its transaction committed; sent directly, never through the outbox
 * (the token must not enter the event stream). A failed send is logged only: the answer never reveals it.
 */
export class PasswordResetMail {
  constructor(
    private readonly mailer: Mailer,
    private readonly settings: { appBaseUrl: string; resetTokenTtlMinutes: number },
    private readonly log: Logger,
  ) {}

  send(user: { id: string; email: string }, token: string): void {
    const link = `${this.settings.appBaseUrl.replace(/\/$/, '')}/reset-password?token=${encodeURIComponent(token)}`;
    this.mailer
      .send({
        to: user.email,
        subject: 'Reset your Taskmesh password',
        text: `Someone asked to reset the password of your Taskmesh account.\n\nOpen this link within ${this.settings.resetTokenTtlMinutes} minutes to choose a new password:\n${link}\n\nOr use this reset token: ${token}\n\nIf it wasn't you, ignore this mail; your password stays as it is.\n`,
      })
      .catch((err: unknown) => this.log.error({ err, userId: user.id }, 'password reset mail failed'));
  }
}
