import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';

/** The mail port: use cases hand messages to it; delivery is the adapter's business. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * SMTP when SMTP_URL is set (e.g. smtp://user:pass@host:587); otherwise the embedded default writes each
 * message as an .eml file under <dataDir>/mail, so nothing is lost and a developer can open it.
 */
export function createMailer(options: { smtpUrl?: string | undefined; dataDir: string; from?: string }): Mailer {
  const from = options.from ?? 'Taskmesh <no-reply@taskmesh.local>';
  if (options.smtpUrl) {
    const transport = nodemailer.createTransport(options.smtpUrl);
    return {
      async send(mail) {
        await transport.sendMail({ from, ...mail });
      },
      close: () => transport.close(),
    };
  }
  const dir = join(options.dataDir, 'mail');
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await transport.sendMail({ from, ...mail });
      mkdirSync(dir, { recursive: true });
      const stamp = new Date().toISOString().replaceAll(':', '-');
      writeFileSync(join(dir, `${stamp}-${randomUUID()}.eml`), info.message as Buffer);
    },
    close: () => transport.close(),
  };
}
