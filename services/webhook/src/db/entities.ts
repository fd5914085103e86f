import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** A registered endpoint. The signing secret is stored sealed under the KEK (it signs, so it cannot be hashed). */
export const WebhookRecord = defineEntity({
  name: 'WebhookRecord',
  tableName: 'webhooks',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    url: p.text(),
    eventTypes: p.array().$type<string[]>(),
    description: p.text(),
    state: p.text().$type<'ACTIVE' | 'DISABLED'>(),
    secretSealed: p.text(),
    /** The secret the last rotation replaced, sealed like secretSealed; it signs too until previousSecretExpireTime. */
    previousSecretSealed: p.text().nullable(),
    /** End of the last rotation's grace period (kept after it, when previousSecretSealed is erased); null before any rotation. */
    previousSecretExpireTime: p.datetime().nullable(),
    createdBy: p.uuid(),
    /** Start of the current run of failed attempts; null after a success. */
    failingSince: p.datetime().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
  },
});
export type WebhookRecord = InferEntity<typeof WebhookRecord>;

/** One event for one endpoint: the body signed on every attempt, and where it stands. */
export const DeliveryRecord = defineEntity({
  name: 'DeliveryRecord',
  tableName: 'deliveries',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    webhookId: p.uuid(),
    eventId: p.uuid(),
    eventType: p.text(),
    body: p.text(),
    attempts: p.integer(),
    state: p.text().$type<'PENDING' | 'SUCCEEDED' | 'FAILED'>(),
    createdAt: p.datetime(),
    /** When it succeeded or was given up (null while pending): its retention counts from here. */
    finishTime: p.datetime().nullable(),
  },
});
export type DeliveryRecord = InferEntity<typeof DeliveryRecord>;

/** The log: one row per attempt (status, duration, attempt number). */
export const DeliveryAttemptRecord = defineEntity({
  name: 'DeliveryAttemptRecord',
  tableName: 'delivery_attempts',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    deliveryId: p.uuid(),
    webhookId: p.uuid(),
    eventId: p.uuid(),
    eventType: p.text(),
    attempt: p.integer(),
    httpStatus: p.integer(),
    durationMs: p.integer(),
    deliverTime: p.datetime(),
    state: p.text().$type<'SUCCEEDED' | 'FAILED'>(),
    error: p.text(),
  },
});
export type DeliveryAttemptRecord = InferEntity<typeof DeliveryAttemptRecord>;

/** Users who are OWNER of an org, kept from org's membership events: who is mailed when an endpoint is disabled. */
export const OrgOwnerRecord = defineEntity({
  name: 'OrgOwnerRecord',
  tableName: 'org_owners',
  extends: TenantScoped,
  properties: {
    userName: p.text().primary(),
  },
});
export type OrgOwnerRecord = InferEntity<typeof OrgOwnerRecord>;
