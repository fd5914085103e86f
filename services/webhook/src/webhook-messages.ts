import { Delivery_State, Webhook_State, type Delivery, type Webhook } from '@taskmesh/gen/taskmesh/webhook/v1/webhook.js';
import type { DeliveryAttemptRecord, WebhookRecord } from './db/entities.ts';
import { previousSecretActive } from './domain/signature.ts';
import { deliveryNameOf, userNameOf, webhookNameOf } from './resource-names.ts';

/**
 * Records → API messages, for the handlers and the event payloads alike (never with a secret). A previous
 * secret past its expiry but not yet erased no longer signs, so it is not shown either.
 */
export function webhookMessage(webhook: WebhookRecord, now = new Date()): Webhook {
  const previousExpiry = webhook.previousSecretExpireTime;
  return {
    name: webhookNameOf(webhook.orgId, webhook.id),
    url: webhook.url,
    eventTypes: webhook.eventTypes,
    description: webhook.description,
    state: webhook.state === 'ACTIVE' ? Webhook_State.STATE_ACTIVE : Webhook_State.STATE_DISABLED,
    createTime: webhook.createdAt,
    creator: userNameOf(webhook.createdBy),
    ...(previousSecretActive(previousExpiry, now) ? { previousSecretExpireTime: previousExpiry } : {}),
  };
}

export function deliveryMessage(attempt: DeliveryAttemptRecord): Delivery {
  return {
    name: deliveryNameOf(attempt.orgId, attempt.webhookId, attempt.id),
    eventId: attempt.eventId,
    eventType: attempt.eventType,
    attempt: attempt.attempt,
    httpStatus: attempt.httpStatus,
    durationMs: attempt.durationMs,
    deliverTime: attempt.deliverTime,
    state: attempt.state === 'SUCCEEDED' ? Delivery_State.STATE_SUCCEEDED : Delivery_State.STATE_FAILED,
    error: attempt.error,
  };
}
