import { randomUUID } from 'node:crypto';
import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { WebhookCreated, WebhookDeleted, WebhookSecretRotated, WebhookUpdated } from '@taskmesh/gen/taskmesh/webhook/v1/events.js';
import { InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import type { KeyRing } from '@taskmesh/runtime/key-encryption';
import { domainEvent, recordEvent, type DomainEvent, type MessageCodec } from '@taskmesh/runtime/outbox';
import { decodePageToken, pageOf, pageSizeOf } from '@taskmesh/runtime/paging';
import { DeliveryAttemptRecord, WebhookRecord } from './db/entities.ts';
import { AllowedHosts, destinationOf, type Destination } from './domain/destination-guard.ts';
import { newSigningSecret, secretAad } from './domain/signature.ts';
import { descriptionViolation, eventTypesViolation, MAX_URL, rejectViolations, type WebhookField } from './domain/webhook-rules.ts';
import { ForbiddenDestinationError, resolveDestination } from './delivery/http-sender.ts';
import type { DeliveryWorker } from './delivery/delivery-worker.ts';
import { webhookMessage } from './webhook-messages.ts';
import { userNameOf, webhookNameOf, type WebhookRef } from './resource-names.ts';

export interface Actor {
  em: EntityManager;
  orgId: string;
  userId: string;
}

export interface WebhookInput {
  url: string;
  eventTypes: string[];
  description: string;
  state?: 'ACTIVE' | 'DISABLED';
}

/**
 * Endpoint management. The URL is checked (shape, scheme, resolved addresses) before any transaction opens;
 * each change and its event are written in one transaction (the outbox).
 */
export class Webhooks {
  constructor(
    private readonly deps: {
      keyRing: KeyRing;
      allowedHosts: AllowedHosts;
      knownEventTypes: readonly string[];
      worker: DeliveryWorker;
      /** How long a rotation's replaced secret keeps signing beside the new one. */
      rotationGraceHours: number;
    },
  ) {}

  private event<T>(actor: Actor, type: string, codec: MessageCodec<T>, payload: T, resource: string): DomainEvent {
    return domainEvent(`taskmesh.webhook.v1.${type}`, codec, payload, {
      resource,
      organization: `organizations/${actor.orgId}`,
      actor: userNameOf(actor.userId),
    });
  }

  /** INVALID_ARGUMENT on `field` unless the URL is acceptable and every address it resolves to may be reached. */
  async checkedDestination(url: string, field: string): Promise<Destination> {
    if (url.length === 0) throw new InvalidArgumentError({ field, description: 'must be set' });
    if (url.length > MAX_URL) throw new InvalidArgumentError({ field, description: `must be at most ${MAX_URL} characters` });
    const destination = destinationOf(url, this.deps.allowedHosts);
    if ('problem' in destination) throw new InvalidArgumentError({ field, description: destination.problem });
    try {
      await resolveDestination(destination);
    } catch (err) {
      const description = err instanceof ForbiddenDestinationError ? err.message : 'the host does not resolve';
      throw new InvalidArgumentError({ field, description });
    }
    return destination;
  }

  async create(actor: Actor, input: WebhookInput): Promise<{ webhook: WebhookRecord; secret: string }> {
    rejectViolations([
      eventTypesViolation(input.eventTypes, this.deps.knownEventTypes, 'webhook.event_types'),
      descriptionViolation(input.description, 'webhook.description'),
    ]);
    const destination = await this.checkedDestination(input.url.trim(), 'webhook.url');
    const secret = newSigningSecret();
    const id = randomUUID();
    const webhook = await actor.em.transactional(async (tx) => {
      const now = new Date();
      const row = tx.create(WebhookRecord, {
        id,
        orgId: actor.orgId,
        url: destination.url.toString(),
        eventTypes: [...new Set(input.eventTypes)],
        description: input.description,
        state: 'ACTIVE',
        secretSealed: this.deps.keyRing.sealText(secret, secretAad(actor.orgId, id)),
        createdBy: actor.userId,
        previousSecretSealed: null,
        previousSecretExpireTime: null,
        failingSince: null,
        createdAt: now,
        updatedAt: now,
      });
      recordEvent(tx, this.event(actor, 'WebhookCreated', WebhookCreated, { webhook: webhookMessage(row) }, webhookNameOf(actor.orgId, id)));
      return row;
    });
    return { webhook, secret };
  }

  async list(actor: Actor, page: { pageSize: number; pageToken: string }): Promise<{ webhooks: WebhookRecord[]; nextPageToken: string }> {
    const size = pageSizeOf(page.pageSize);
    const query = 'webhooks';
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const where = after
      ? { $or: [{ createdAt: { $gt: new Date(after[0]) } }, { createdAt: new Date(after[0]), id: { $gt: after[1] } }] }
      : {};
    const rows = await actor.em.find(WebhookRecord, where, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: size + 1 });
    const { items, nextPageToken } = pageOf(rows, size, (w) => [w.createdAt.toISOString(), w.id], query);
    return { webhooks: items, nextPageToken };
  }

  async get(actor: Actor, ref: WebhookRef): Promise<WebhookRecord> {
    const webhook = await actor.em.findOne(WebhookRecord, { id: ref.webhookId });
    if (!webhook) throw new NotFoundError(webhookNameOf(ref.orgId, ref.webhookId));
    return webhook;
  }

  async update(actor: Actor, ref: WebhookRef, input: WebhookInput, fields: WebhookField[]): Promise<WebhookRecord> {
    rejectViolations([
      fields.includes('event_types') ? eventTypesViolation(input.eventTypes, this.deps.knownEventTypes, 'webhook.event_types') : undefined,
      fields.includes('description') ? descriptionViolation(input.description, 'webhook.description') : undefined,
      fields.includes('state') && !input.state ? { field: 'webhook.state', description: 'must be STATE_ACTIVE or STATE_DISABLED' } : undefined,
    ]);
    const destination = fields.includes('url') ? await this.checkedDestination(input.url.trim(), 'webhook.url') : undefined;
    return actor.em.transactional(async (tx) => {
      const webhook = await tx.findOne(WebhookRecord, { id: ref.webhookId });
      if (!webhook) throw new NotFoundError(webhookNameOf(ref.orgId, ref.webhookId));
      if (destination) webhook.url = destination.url.toString();
      if (fields.includes('event_types')) webhook.eventTypes = [...new Set(input.eventTypes)];
      if (fields.includes('description')) webhook.description = input.description;
      if (fields.includes('state') && input.state) {
        // Re-enabling starts a fresh failure window.
        if (input.state === 'ACTIVE' && webhook.state !== 'ACTIVE') webhook.failingSince = null;
        webhook.state = input.state;
      }
      webhook.updatedAt = new Date();
      recordEvent(tx, this.event(actor, 'WebhookUpdated', WebhookUpdated, { webhook: webhookMessage(webhook) }, webhookNameOf(actor.orgId, webhook.id)));
      return webhook;
    });
  }

  async delete(actor: Actor, ref: WebhookRef): Promise<void> {
    await actor.em.transactional(async (tx) => {
      const webhook = await tx.findOne(WebhookRecord, { id: ref.webhookId });
      if (!webhook) throw new NotFoundError(webhookNameOf(ref.orgId, ref.webhookId));
      // Deliveries and attempts go with it (on delete cascade); their schedule rows are dropped here.
      await tx.execute('delete from delivery_due where delivery_id in (select id from deliveries where org_id = ? and webhook_id = ?)', [actor.orgId, webhook.id]);
      tx.remove(webhook);
      recordEvent(tx, this.event(actor, 'WebhookDeleted', WebhookDeleted, { webhook: webhookNameOf(actor.orgId, webhook.id), url: webhook.url }, webhookNameOf(actor.orgId, webhook.id)));
    });
  }

  /**
   * A new secret, returned once. The current one becomes the previous one (still sealed, moved as it is) and
   * signs beside the new one for the grace period; a previous one from an earlier rotation is dropped, so at
   * most two sign. The row is locked so that two rotations at once chain instead of losing one's secret.
   */
  async rotateSecret(actor: Actor, ref: WebhookRef): Promise<{ webhook: WebhookRecord; secret: string }> {
    const secret = newSigningSecret();
    const sealed = this.deps.keyRing.sealText(secret, secretAad(actor.orgId, ref.webhookId));
    const webhook = await actor.em.transactional(async (tx) => {
      const row = await tx.findOne(WebhookRecord, { id: ref.webhookId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
      if (!row) throw new NotFoundError(webhookNameOf(ref.orgId, ref.webhookId));
      const now = new Date();
      row.previousSecretSealed = row.secretSealed;
      row.previousSecretExpireTime = new Date(now.getTime() + this.deps.rotationGraceHours * 3_600_000);
      row.secretSealed = sealed;
      row.updatedAt = now;
      recordEvent(tx, this.event(actor, 'WebhookSecretRotated', WebhookSecretRotated, { webhook: webhookMessage(row, now) }, webhookNameOf(actor.orgId, row.id)));
      return row;
    });
    return { webhook, secret };
  }

  /** Sends a ping now (outside any transaction) and returns its logged attempt. */
  async test(actor: Actor, ref: WebhookRef): Promise<DeliveryAttemptRecord> {
    const webhook = await this.get(actor, ref);
    return this.deps.worker.ping(actor.em, webhook);
  }

  async listAttempts(actor: Actor, ref: WebhookRef, page: { pageSize: number; pageToken: string }): Promise<{ attempts: DeliveryAttemptRecord[]; nextPageToken: string }> {
    await this.get(actor, ref);
    const size = pageSizeOf(page.pageSize);
    const query = `deliveries:${ref.webhookId}`;
    const after = decodePageToken<[string, string]>(page.pageToken, query);
    const base = { webhookId: ref.webhookId };
    const where = after
      ? { ...base, $or: [{ deliverTime: { $lt: new Date(after[0]) } }, { deliverTime: new Date(after[0]), id: { $lt: after[1] } }] }
      : base;
    const rows = await actor.em.find(DeliveryAttemptRecord, where, { orderBy: { deliverTime: 'desc', id: 'desc' }, limit: size + 1 });
    const { items, nextPageToken } = pageOf(rows, size, (a) => [a.deliverTime.toISOString(), a.id], query);
    return { attempts: items, nextPageToken };
  }
}
