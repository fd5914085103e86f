import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { MailContent } from '../domain/mails.ts';

export interface QueuedMail {
  /** At most one mail per key, ever: a redelivered event or a second replica queues nothing new. */
  dedupKey: string;
  /** users/{user} */
  recipient: string;
  /** When the event carried it (sign-up); otherwise identity is asked at send time. */
  toAddress?: string;
  content: MailContent;
}

export interface ClaimedMail {
  id: string;
  recipient: string;
  toAddress: string | null;
  content: MailContent;
  attempts: number;
}

/** The outgoing_mail table: queued by event handlers and the digest, drained by the dispatcher. */
export class MailQueue {
  constructor(private readonly em: EntityManager) {}

  /** Queues inside the caller's transaction; false when a mail with this key exists already. */
  static async enqueue(tx: EntityManager, mail: QueuedMail): Promise<boolean> {
    const rows = await tx.execute<{ id: string }[]>(
      `insert into outgoing_mail (id, dedup_key, kind, recipient, to_address, data)
       values (?, ?, ?, ?, ?, ?::jsonb) on conflict (dedup_key) do nothing returning id`,
      [randomUUID(), mail.dedupKey, mail.content.kind, mail.recipient, mail.toAddress ?? null, JSON.stringify(mail.content)],
    );
    return rows.length > 0;
  }

  /**
   * Leases up to `limit` due mails to this replica (a short transaction; sending happens after it). A
   * replica that dies holding a lease only delays those mails until the lease ends.
   */
  async claim(limit: number, leaseSeconds: number): Promise<ClaimedMail[]> {
    const rows = await this.em.fork().execute<
      { id: string; recipient: string; to_address: string | null; data: MailContent; attempts: number }[]
    >(
      `update outgoing_mail set lease_until = now() + make_interval(secs => ?), attempts = attempts + 1
       where id in (
         select id from outgoing_mail
         where sent_at is null and failed_at is null and next_attempt_at <= now()
           and (lease_until is null or lease_until < now())
         order by created_at limit ? for update skip locked)
       returning id, recipient, to_address, data, attempts`,
      [leaseSeconds, limit],
    );
    return rows.map((r) => ({ id: r.id, recipient: r.recipient, toAddress: r.to_address, content: r.data, attempts: r.attempts }));
  }

  async markSent(id: string): Promise<void> {
    await this.em.fork().execute('update outgoing_mail set sent_at = now(), lease_until = null, last_error = null where id = ?', [id]);
  }

  /** Retries after `retryInSeconds`, or gives up for good when it is null. */
  async markFailed(id: string, error: string, retryInSeconds: number | null): Promise<void> {
    await this.em.fork().execute(
      retryInSeconds === null
        ? 'update outgoing_mail set failed_at = now(), lease_until = null, last_error = ? where id = ?'
        : `update outgoing_mail set next_attempt_at = now() + make_interval(secs => ${Number(retryInSeconds)}), lease_until = null, last_error = ? where id = ?`,
      [error.slice(0, 2_000), id],
    );
  }
}
