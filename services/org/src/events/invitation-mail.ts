import type { Logger } from 'pino';
import type { Mailer } from '@taskmesh/runtime/mail';
import type { InvitationRecord } from '../db/entities.ts';

/**
 * Mails an invitation's token after its transaction committed. Sent directly, not through the outbox: the
 * token must never enter the event stream. A failed send is logged; the inviter can re-issue with the
 * same request id.
 */
export class InvitationMail {
  constructor(
    private readonly mailer: Mailer,
    private readonly settings: { invitationTtlSeconds: number; appBaseUrl: string },
    private readonly log: Logger,
  ) {}

  send(invitation: InvitationRecord, orgDisplayName: string, token: string): void {
    const link = `${this.settings.appBaseUrl.replace(/\/$/, '')}/invitations/accept?token=${encodeURIComponent(token)}`;
    const days = Math.round(this.settings.invitationTtlSeconds / 86_400);
    this.mailer
      .send({
        to: invitation.email,
        subject: `You're invited to ${orgDisplayName} on Taskmesh`,
        text: `You have been invited to join ${orgDisplayName} on Taskmesh as ${invitation.role}.\n\nSign in with this e-mail address and open this link to accept${days > 0 ? ` within ${days} days` : ''}:\n${link}\n\nOr use this invitation token: ${token}\n\nIf you don't know why you got this, ignore this mail.\n`,
      })
      .catch((err: unknown) => this.log.error({ err, invitation: invitation.id }, 'invitation mail failed'));
  }
}
