import { attachmentService } from '@taskmesh/attachment/descriptor';
import { auditService } from '@taskmesh/audit/descriptor';
import { boardService } from '@taskmesh/board/descriptor';
import { edgeFront } from '@taskmesh/edge/descriptor';
import { identityService } from '@taskmesh/identity/descriptor';
import { notifyService } from '@taskmesh/notify/descriptor';
import { orgService } from '@taskmesh/org/descriptor';
import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { shareService } from '@taskmesh/share/descriptor';
import { taskService } from '@taskmesh/task/descriptor';
import { webhookService } from '@taskmesh/webhook/descriptor';
import { analyticsService } from '@taskmesh/analytics/descriptor';

/** Every service of the system, in start-up order; a new service is one descriptor and one line here. */
export const ALL_SERVICES: readonly ServiceDescriptor[] = [
  identityService,
  orgService,
  boardService,
  taskService,
  auditService,
  notifyService,
  shareService,
  attachmentService,
  webhookService,
  analyticsService,
];

export { edgeFront };
