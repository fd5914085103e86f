import { parseName } from '@taskmesh/runtime/resource-names';

export const WEBHOOK_PATTERN = 'organizations/{org}/webhooks/{webhook}';

export interface WebhookRef {
  orgId: string;
  webhookId: string;
}

export const webhookNameOf = (orgId: string, webhookId: string) => `organizations/${orgId}/webhooks/${webhookId}`;
export const deliveryNameOf = (orgId: string, webhookId: string, attemptId: string) => `${webhookNameOf(orgId, webhookId)}/deliveries/${attemptId}`;
export const userNameOf = (userId: string) => `users/${userId}`;

export function parseWebhookName(name: string, field = 'name'): WebhookRef {
  const ids = parseName<'org' | 'webhook'>(name, WEBHOOK_PATTERN, field);
  return { orgId: ids.org, webhookId: ids.webhook };
}
