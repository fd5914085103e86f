import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { WebhookDisabled } from '@taskmesh/gen/taskmesh/webhook/v1/events.js';
import { everyJittered, type JitteredTimer } from '@taskmesh/runtime/jitter';
import type { KeyRing } from '@taskmesh/runtime/key-encryption';
import type { Mailer } from '@taskmesh/runtime/mail';
import { domainEvent, recordEvent } from '@taskmesh/runtime/outbox';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { DeliveryAttemptRecord, DeliveryRecord, OrgOwnerRecord, WebhookRecord } from '../db/entities.ts';
import { destinationOf, type AllowedHosts } from '../domain/destination-guard.ts';
import { nextAttemptAfter } from '../domain/retry-schedule.ts';
import { previousSecretActive, secretAad, signatureHeaderOf } from '../domain/signature.ts';
import { webhookNameOf } from '../resource-names.ts';
import { webhookMessage } from '../webhook-messages.ts';
import { sendDelivery, type SendOutcome } from './http-sender.ts';

export const PING_EVENT_TYPE = 'taskmesh.webhook.v1.Ping';

export interface DeliveryWorkerOptions {
  em: EntityManager;
  keyRing: KeyRing;
  allowedHosts: AllowedHosts;
  retryScheduleSeconds: readonly number[];
  disableAfterSeconds: number;
  timeoutMs: number;
  pollMs: number;
  mailer: Mailer;
  /** E-mail addresses of users/{user} names (identity's BatchGetUsers). */
  addressesOf: (users: readonly string[]) => Promise<string[]>;
  log: Logger;
}

interface Claimed {
  delivery_id: string;
  org_id: string;
}

/** Most deliveries taken per round; they are sent side by side. */
const CLAIM_LIMIT = 16;
/** A claimed delivery is not taken by another replica for this long (a replica that died only delays it). */
const LEASE_SECONDS = 120;

/**
 * Sends due deliveries (none of a suspended org: they wait for its reactivation): claims them from delivery_due in a short transaction, signs and POSTs each outside
 * any transaction, then logs the attempt and reschedules (backoff) or settles the delivery. An endpoint that
 * has failed for the whole window is disabled, with a WebhookDisabled event and a mail to the org's owners.
 */
export class DeliveryWorker {
  private timer: JitteredTimer | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly options: DeliveryWorkerOptions) {}

  start(): void {
    this.timer = everyJittered(() => this.wake(), this.options.pollMs);
    this.wake();
  }

  /** Runs a round now (or right after the current one). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.round()
      .catch((err: unknown) => this.options.log.error({ err }, 'webhook delivery round failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.stop();
    await this.running;
  }

  private async round(): Promise<void> {
    for (;;) {
      const claimed = await this.options.em.fork().execute<Claimed[]>(
        `update delivery_due set lease_until = now() + make_interval(secs => ?)
         where delivery_id in (
           select delivery_id from delivery_due
           where next_attempt_at <= now() and (lease_until is null or lease_until < now())
             and org_id not in (select org_id from suspended_orgs)
           order by next_attempt_at limit ? for update skip locked)
         returning delivery_id, org_id`,
        [LEASE_SECONDS, CLAIM_LIMIT],
      );
      if (claimed.length === 0 || this.stopped) return;
      await Promise.all(claimed.map((c) => this.attempt(c).catch((err: unknown) => this.options.log.error({ err, deliveryId: c.delivery_id }, 'webhook delivery attempt failed'))));
    }
  }

  /** Signed with the current secret, and with the previous one while a rotation's grace period lasts. */
  private headersFor(webhook: WebhookRecord, messageId: string, body: string): Record<string, string> {
    const now = new Date();
    const aad = secretAad(webhook.orgId, webhook.id);
    const secrets = [this.options.keyRing.openText(webhook.secretSealed, aad)];
    if (webhook.previousSecretSealed && previousSecretActive(webhook.previousSecretExpireTime, now)) {
      secrets.push(this.options.keyRing.openText(webhook.previousSecretSealed, aad));
    }
    const timestamp = Math.floor(now.getTime() / 1000);
    return {
      'webhook-id': messageId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeaderOf(secrets, messageId, timestamp, body),
    };
  }

  /** The destination is checked again at each send: the allowed hosts or DNS may have changed. */
  private async post(webhook: WebhookRecord, messageId: string, body: string): Promise<SendOutcome> {
    const destination = destinationOf(webhook.url, this.options.allowedHosts);
    if ('problem' in destination) return { httpStatus: 0, durationMs: 0, error: `the URL ${destination.problem}` };
    return sendDelivery(destination, this.headersFor(webhook, messageId, body), body, this.options.timeoutMs);
  }

  private async attempt(claim: Claimed): Promise<void> {
    const em = forkForOrg(this.options.em, claim.org_id);
    const delivery = await em.findOne(DeliveryRecord, { id: claim.delivery_id });
    const webhook = delivery ? await em.findOne(WebhookRecord, { id: delivery.webhookId }) : null;
    if (!delivery || !webhook || webhook.state !== 'ACTIVE' || delivery.state !== 'PENDING') {
      // Deleted or disabled endpoint, or settled already: nothing to send.
      await em.transactional(async (tx) => {
        await tx.execute('delete from delivery_due where delivery_id = ?', [claim.delivery_id]);
        if (delivery && delivery.state === 'PENDING') await tx.nativeUpdate(DeliveryRecord, { id: delivery.id }, { state: 'FAILED', finishTime: new Date() });
      });
      return;
    }
    const outcome = await this.post(webhook, delivery.eventId, delivery.body);
    const now = new Date();
    const succeeded = outcome.error === undefined;
    const attempt = delivery.attempts + 1;
    const disabled = await em.transactional(async (tx) => {
      tx.create(DeliveryAttemptRecord, attemptRow(delivery, webhook, attempt, outcome, now));
      const next = succeeded ? undefined : nextAttemptAfter(this.options.retryScheduleSeconds, attempt, now);
      await tx.nativeUpdate(DeliveryRecord, { id: delivery.id }, {
        attempts: attempt,
        state: succeeded ? 'SUCCEEDED' : next ? 'PENDING' : 'FAILED',
        finishTime: next ? null : now,
      });
      if (next) await tx.execute('update delivery_due set next_attempt_at = ?, lease_until = null where delivery_id = ?', [next, delivery.id]);
      else await tx.execute('delete from delivery_due where delivery_id = ?', [delivery.id]);
      const current = await tx.findOneOrFail(WebhookRecord, { id: webhook.id });
      eraseExpiredPreviousSecret(current, now);
      if (succeeded) {
        current.failingSince = null;
        return false;
      }
      current.failingSince ??= now;
      if (current.state === 'ACTIVE' && now.getTime() - current.failingSince.getTime() >= this.options.disableAfterSeconds * 1000) {
        current.state = 'DISABLED';
        current.updatedAt = now;
        recordEvent(
          tx,
          domainEvent('taskmesh.webhook.v1.WebhookDisabled', WebhookDisabled, { webhook: webhookMessage(current) }, {
            resource: webhookNameOf(current.orgId, current.id),
            organization: `organizations/${current.orgId}`,
            actor: '',
          }),
        );
        return true;
      }
      return false;
    });
    if (disabled) await this.mailOwners(em, webhook);
  }

  /** After the transaction: the owners' addresses come from identity, the mail goes out through the mailer. */
  private async mailOwners(em: EntityManager, webhook: WebhookRecord): Promise<void> {
    try {
      const owners = await em.find(OrgOwnerRecord, {});
      const addresses = await this.options.addressesOf(owners.map((o) => o.userName));
      const hours = Math.round((this.options.disableAfterSeconds / 3600) * 10) / 10;
      for (const to of addresses) {
        await this.options.mailer.send({
          to,
          subject: 'A Taskmesh webhook endpoint was disabled',
          text:
            `The webhook endpoint ${webhook.url} (${webhookNameOf(webhook.orgId, webhook.id)}) kept failing for ${hours} h ` +
            'and has been disabled. Fix the endpoint, then set its state to STATE_ACTIVE again; its delivery log lists the failed attempts.\n',
        });
      }
      this.options.log.warn({ webhook: webhookNameOf(webhook.orgId, webhook.id), owners: addresses.length }, 'webhook endpoint disabled after failing');
    } catch (err) {
      this.options.log.error({ err, webhook: webhookNameOf(webhook.orgId, webhook.id) }, 'could not mail the owners about a disabled webhook');
    }
  }

  /** `:test`: a ping sent now, outside any transaction, then logged as a one-attempt delivery. */
  async ping(em: EntityManager, webhook: WebhookRecord): Promise<DeliveryAttemptRecord> {
    const id = randomUUID();
    const now = new Date();
    const body = JSON.stringify({
      id,
      type: PING_EVENT_TYPE,
      organization: `organizations/${webhook.orgId}`,
      actor: '',
      resource: webhookNameOf(webhook.orgId, webhook.id),
      occurTime: now.toISOString(),
      data: { webhook: webhookNameOf(webhook.orgId, webhook.id) },
    });
    const outcome = await this.post(webhook, id, body);
    return em.transactional(async (tx) => {
      const current = await tx.findOne(WebhookRecord, { id: webhook.id });
      if (current) eraseExpiredPreviousSecret(current, now);
      const delivery = tx.create(DeliveryRecord, {
        id: randomUUID(),
        orgId: webhook.orgId,
        webhookId: webhook.id,
        eventId: id,
        eventType: PING_EVENT_TYPE,
        body,
        attempts: 1,
        state: outcome.error === undefined ? 'SUCCEEDED' : 'FAILED',
        createdAt: now,
        finishTime: now,
      });
      return tx.create(DeliveryAttemptRecord, attemptRow(delivery, webhook, 1, outcome, now));
    });
  }
}

/** On use: a previous secret whose grace period has ended is erased (the retention job erases unused ones). */
function eraseExpiredPreviousSecret(webhook: WebhookRecord, now: Date): void {
  if (webhook.previousSecretSealed && !previousSecretActive(webhook.previousSecretExpireTime, now)) webhook.previousSecretSealed = null;
}

function attemptRow(delivery: DeliveryRecord, webhook: WebhookRecord, attempt: number, outcome: SendOutcome, now: Date): DeliveryAttemptRecord {
  return {
    id: randomUUID(),
    orgId: webhook.orgId,
    deliveryId: delivery.id,
    webhookId: webhook.id,
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    attempt,
    httpStatus: outcome.httpStatus,
    durationMs: outcome.durationMs,
    deliverTime: now,
    state: outcome.error === undefined ? 'SUCCEEDED' : 'FAILED',
    error: outcome.error ?? '',
  } as DeliveryAttemptRecord;
}
