import type { WebhookServiceService } from '@taskmesh/gen/taskmesh/webhook/v1/webhook_service.js';
import type { AccessTable } from '@taskmesh/runtime/org-context';

const WEBHOOK_ADMINS = ['OWNER', 'ADMIN'] as const;

/** Who may call which WebhookService RPC: endpoints carry secrets and reach outside, so OWNER and ADMIN only. */
export const webhookAccessTable = {
  createWebhook: { roles: WEBHOOK_ADMINS },
  listWebhooks: { roles: WEBHOOK_ADMINS, whileSuspended: 'owners' },
  getWebhook: { roles: WEBHOOK_ADMINS, whileSuspended: 'owners' },
  updateWebhook: { roles: WEBHOOK_ADMINS },
  deleteWebhook: { roles: WEBHOOK_ADMINS },
  testWebhook: { roles: WEBHOOK_ADMINS },
  rotateWebhookSecret: { roles: WEBHOOK_ADMINS },
  listDeliveries: { roles: WEBHOOK_ADMINS, whileSuspended: 'owners' },
} as const satisfies AccessTable<typeof WebhookServiceService>;
