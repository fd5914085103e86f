import type { EntityManager } from '@mikro-orm/postgresql';
import { OrganizationDeleted, OrganizationPurged } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { TaskDeleted } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import type { EventSubscription } from '@taskmesh/runtime/events/event-bus';
import { processOnce } from '@taskmesh/runtime/events/processed-events';
import { isResourceId } from '@taskmesh/runtime/resource-names';
import { forkForOrg } from '@taskmesh/runtime/tenancy';
import { enqueueDeletionsSql, type ObjectDeletions } from '../storage/object-deletions.ts';

/** Durable consumer name of the attachment service (its replicas share it: each event is handled once). */
export const ATTACHMENT_CONSUMER = 'attachment';

const TASK_NAME = /^organizations\/([^/]+)\/boards\/([^/]+)\/tasks\/([^/]+)$/;
const ORG_NAME = /^organizations\/([^/]+)$/;

/**
 * A deleted task takes its attachments with it: their rows go and their keys are queued for deletion from the
 * store, in one transaction bound to the task's org (filter + RLS) with the processed-event record; the store
 * itself is called after the commit, by the deletion worker. A deleted organization is only noted; its rows and
 * objects go when the org service purges it (OrganizationPurged), or once this service's own record of the
 * retention is due (OrgAttachmentPurge), whichever comes first.
 */
export function attachmentSubscription(
  em: EntityManager,
  deletions: ObjectDeletions,
  settings: { orgRetentionDays: number },
): EventSubscription {
  return {
    consumer: ATTACHMENT_CONSUMER,
    types: ['taskmesh.task.v1.TaskDeleted', 'taskmesh.org.v1.OrganizationDeleted', 'taskmesh.org.v1.OrganizationPurged'],
    async handle(event) {
      if (event.type === 'taskmesh.task.v1.TaskDeleted') {
        const match = TASK_NAME.exec(TaskDeleted.decode(event.payload).task);
        if (!match || !match.slice(1).every(isResourceId)) return;
        const [, orgId, , taskId] = match as unknown as [string, string, string, string];
        await processOnce(forkForOrg(em, orgId), ATTACHMENT_CONSUMER, async (_event, tx) => {
          await tx.execute(enqueueDeletionsSql('org_id = ? and task_id = ?'), [orgId, taskId]);
        })(event);
        void deletions.drain().catch(() => undefined);
        return;
      }
      if (event.type === 'taskmesh.org.v1.OrganizationPurged') {
        // The org service purged the org: its rows go now, its objects right after (the deletion worker).
        const purged = OrganizationPurged.decode(event.payload).organization;
        const purgedId = ORG_NAME.exec(purged)?.[1];
        if (!purgedId || !isResourceId(purgedId)) return;
        await processOnce(forkForOrg(em, purgedId), ATTACHMENT_CONSUMER, async (_event, tx) => {
          await tx.execute(enqueueDeletionsSql('org_id = ?'), [purgedId]);
          await tx.execute('delete from org_purges where org_id = ?', [purgedId]);
          // Its export archives go with its other objects, and so do its export operations.
          await tx.execute('update object_deletions set next_attempt_at = now() where org_id = ?', [purgedId]);
          await tx.execute('delete from export_queue where org_id = ?', [purgedId]);
          await tx.execute('delete from export_operations where org_id = ?', [purgedId]);
          await tx.execute('delete from outbox where organization = ?', [purged]);
        })(event);
        void deletions.drain().catch(() => undefined);
        return;
      }
      const orgId = ORG_NAME.exec(OrganizationDeleted.decode(event.payload).organization)?.[1];
      if (!orgId || !isResourceId(orgId)) return;
      const dueAt = new Date(event.occurTime.getTime() + settings.orgRetentionDays * 86_400_000);
      await processOnce(em, ATTACHMENT_CONSUMER, async (_event, tx) => {
        await tx.execute('insert into org_purges (org_id, due_at) values (?, ?) on conflict do nothing', [orgId, dueAt]);
      })(event);
    },
  };
}
