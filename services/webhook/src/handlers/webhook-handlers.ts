import { Webhook_State } from '@taskmesh/gen/taskmesh/webhook/v1/webhook.js';
import type { WebhookServiceService } from '@taskmesh/gen/taskmesh/webhook/v1/webhook_service.js';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import type { TenantAwareService, TenantContext } from '@taskmesh/runtime/org-context';
import { fieldsToUpdate } from '../domain/field-mask.ts';
import { WEBHOOK_FIELDS } from '../domain/webhook-rules.ts';
import { parseWebhookName, type WebhookRef } from '../resource-names.ts';
import { deliveryMessage, webhookMessage } from '../webhook-messages.ts';
import type { Actor, Webhooks } from '../webhooks.ts';
import type { webhookAccessTable } from './access-table.ts';

const actorOf = (context: TenantContext): Actor => ({ em: context.em, orgId: context.org.id, userId: context.principal.userId });

function refIn(context: TenantContext, name: string, field: string): WebhookRef {
  const ref = parseWebhookName(name, field);
  if (ref.orgId !== context.org.id) throw new InvalidArgumentError({ field, description: 'names another organization' });
  return ref;
}

const stateOf = (state: Webhook_State | undefined) =>
  state === Webhook_State.STATE_ACTIVE ? ('ACTIVE' as const) : state === Webhook_State.STATE_DISABLED ? ('DISABLED' as const) : undefined;

/** Proto ⇄ use cases; no rules here. */
export function webhookHandlers(webhooks: Webhooks): TenantAwareService<typeof WebhookServiceService, typeof webhookAccessTable> {
  return {
    async createWebhook(req, context) {
      const { webhook, secret } = await webhooks.create(actorOf(context), {
        url: req.webhook?.url ?? '',
        eventTypes: req.webhook?.eventTypes ?? [],
        description: req.webhook?.description ?? '',
      });
      return { webhook: webhookMessage(webhook), secret };
    },
    async listWebhooks(req, context) {
      const page = await webhooks.list(actorOf(context), { pageSize: req.pageSize, pageToken: req.pageToken });
      return { webhooks: page.webhooks.map((webhook) => webhookMessage(webhook)), nextPageToken: page.nextPageToken };
    },
    async getWebhook(req, context) {
      return { webhook: webhookMessage(await webhooks.get(actorOf(context), refIn(context, req.name, 'name'))) };
    },
    async updateWebhook(req, context) {
      const ref = refIn(context, req.webhook?.name ?? '', 'webhook.name');
      const fields = fieldsToUpdate(req.updateMask, WEBHOOK_FIELDS, {
        url: (req.webhook?.url ?? '') !== '',
        event_types: (req.webhook?.eventTypes.length ?? 0) > 0,
        description: (req.webhook?.description ?? '') !== '',
        state: (req.webhook?.state ?? 0) !== Webhook_State.STATE_UNSPECIFIED,
      });
      const state = stateOf(req.webhook?.state);
      const webhook = await webhooks.update(
        actorOf(context),
        ref,
        { url: req.webhook?.url ?? '', eventTypes: req.webhook?.eventTypes ?? [], description: req.webhook?.description ?? '', ...(state ? { state } : {}) },
        fields,
      );
      return { webhook: webhookMessage(webhook) };
    },
    async deleteWebhook(req, context) {
      await webhooks.delete(actorOf(context), refIn(context, req.name, 'name'));
      return {};
    },
    async testWebhook(req, context) {
      return { delivery: deliveryMessage(await webhooks.test(actorOf(context), refIn(context, req.name, 'name'))) };
    },
    async rotateWebhookSecret(req, context) {
      const { webhook, secret } = await webhooks.rotateSecret(actorOf(context), refIn(context, req.name, 'name'));
      return { webhook: webhookMessage(webhook), secret };
    },
    async listDeliveries(req, context) {
      const page = await webhooks.listAttempts(actorOf(context), refIn(context, req.parent, 'parent'), { pageSize: req.pageSize, pageToken: req.pageToken });
      return { deliveries: page.attempts.map(deliveryMessage), nextPageToken: page.nextPageToken };
    },
  };
}
