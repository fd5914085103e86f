import type { Logger } from 'pino';
import { jittered } from '@taskmesh/runtime/jitter';
import type { Mailer } from '@taskmesh/runtime/mail';
import { peopleMentioned, renderMail, type Person } from '../domain/mails.ts';
import type { ClaimedMail, MailQueue } from '../db/mail-queue.ts';
import type { UserDirectory } from '../user-directory.ts';

export interface MailDispatcherOptions {
  queue: MailQueue;
  mailer: Mailer;
  users: UserDirectory;
  appBaseUrl: string;
  log: Logger;
  /** Poll interval when not nudged (±20%). Default 2 s. */
  pollIntervalMs?: number;
  /** Attempts before a mail is given up. Default 8 (about 4 hours of backoff). */
  maxAttempts?: number;
}

export interface MailDispatcher {
  nudge(): void;
  /** Sends everything due now; resolves with how many mails went out. */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

const BATCH = 20;
const LEASE_SECONDS = 120;

/**
 * Sends queued mail outside any transaction: lease a batch, look the people up in identity, render, send,
 * mark each sent. A mail is sent at least once; it is sent twice only if this process dies between the SMTP
 * server accepting it and the row being marked (the narrowest window an SMTP hand-off allows).
 */
export function startMailDispatcher(options: MailDispatcherOptions): MailDispatcher {
  const log = options.log.child({ component: 'mail-dispatcher' });
  const maxAttempts = options.maxAttempts ?? 8;
  const pollIntervalMs = options.pollIntervalMs ?? 2_000;
  let stopped = false;
  let nudged = false;
  let wake: (() => void) | undefined;

  const retryIn = (attempts: number) => Math.min(30 * 2 ** (attempts - 1), 3_600);

  async function sendOne(mail: ClaimedMail, people: ReadonlyMap<string, Person>): Promise<boolean> {
    const known = people.get(mail.recipient);
    const address = mail.toAddress ?? known?.email;
    if (!address) {
      await options.queue.markFailed(mail.id, `unknown recipient ${mail.recipient}`, null);
      log.warn({ mailId: mail.id, recipient: mail.recipient }, 'mail dropped: recipient unknown to identity');
      return false;
    }
    const recipient: Person = known ?? { email: address, displayName: address.split('@')[0] ?? address };
    const rendered = renderMail(mail.content, recipient, people, options.appBaseUrl);
    try {
      await options.mailer.send({ to: address, subject: rendered.subject, text: rendered.text });
    } catch (err) {
      const giveUp = mail.attempts >= maxAttempts;
      await options.queue.markFailed(mail.id, String(err), giveUp ? null : retryIn(mail.attempts));
      log.warn({ err, mailId: mail.id, kind: mail.content.kind, attempts: mail.attempts, giveUp }, 'mail not sent');
      return false;
    }
    await options.queue.markSent(mail.id);
    log.info({ mailId: mail.id, kind: mail.content.kind, recipient: mail.recipient }, 'mail sent');
    return true;
  }

  async function round(): Promise<{ claimed: number; sent: number }> {
    const batch = await options.queue.claim(BATCH, LEASE_SECONDS);
    if (batch.length === 0) return { claimed: 0, sent: 0 };
    const names = batch.flatMap((mail) => [mail.recipient, ...peopleMentioned(mail.content)]);
    let people: Map<string, Person>;
    try {
      people = await options.users.lookup(names);
    } catch (err) {
      // Identity unreachable: put the whole batch back for a later try.
      for (const mail of batch) await options.queue.markFailed(mail.id, `user lookup failed: ${String(err)}`, retryIn(mail.attempts));
      throw err;
    }
    let sent = 0;
    for (const mail of batch) if (await sendOne(mail, people)) sent++;
    return { claimed: batch.length, sent };
  }

  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const { claimed, sent } = await round();
      total += sent;
      if (claimed < BATCH) return total;
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        nudged = false;
        await drain();
      } catch (err) {
        log.warn({ err }, 'mail round failed; retrying later');
      }
      if (stopped) break;
      if (nudged) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, jittered(pollIntervalMs));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  })();

  return {
    nudge() {
      nudged = true;
      wake?.();
    },
    drain,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
