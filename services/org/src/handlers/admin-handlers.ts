import type { AdminServiceService } from '@taskmesh/gen/taskmesh/admin/v1/admin_service.js';
import type { AccessTokenVerifier } from '@taskmesh/runtime/access-tokens';
import { InvalidArgumentError, PermissionDeniedError } from '@taskmesh/runtime/errors';
import type { AsyncService, CallContext } from '@taskmesh/runtime/grpc-server';
import { orgIdOf } from '@taskmesh/runtime/resource-names';
import type { PlatformAdministration } from '../db/platform-administration.ts';
import type { AdminDeadLetters } from '../admin-dead-letters.ts';
import { planFromProto, stateFromProto, toAdminOrganizationMessage, toDeadLetterMessage, toPlatformAuditEventMessage, orgName } from '../mapping.ts';
import type { PlatformAdminDirectory } from '../platform-admin-directory.ts';
import type { TaskCounts } from '../task-counts.ts';
import { maskedFields } from './org-handlers.ts';

export interface AdminHandlerDeps {
  verifier: AccessTokenVerifier;
  admins: PlatformAdminDirectory;
  administration: PlatformAdministration;
  taskCounts: TaskCounts;
  deadLetters: AdminDeadLetters;
}

/**
 * AdminService: every RPC is for platform administrators only. The caller signs in as anyone does; identity
 * answers whether they are one (cached briefly); everyone else, API tokens included, gets PERMISSION_DENIED.
 */
export function adminHandlers({ verifier, admins, administration, taskCounts, deadLetters }: AdminHandlerDeps): AsyncService<typeof AdminServiceService> {
  const requireAdmin = async (ctx: CallContext): Promise<string> => {
    const principal = await verifier.authenticate(ctx.metadata);
    if (principal.apiToken || !(await admins.isPlatformAdmin(principal.userId))) {
      throw new PermissionDeniedError('only platform administrators may call this', { reason: 'NOT_PLATFORM_ADMIN' });
    }
    return principal.userId;
  };
  const withTasks = async (org: { org: Parameters<typeof toAdminOrganizationMessage>[0]; memberCount: number }) => {
    const counts = await taskCounts.of([orgName(org.org.id)]);
    return toAdminOrganizationMessage(org.org, org.memberCount, counts[orgName(org.org.id)] ?? 0);
  };

  return {
    async listOrganizations(req, ctx) {
      await requireAdmin(ctx);
      const state = req.state === 0 ? undefined : stateFromProto(req.state);
      if (req.state !== 0 && !state) throw new InvalidArgumentError({ field: 'state', description: 'must be STATE_ACTIVE, STATE_SUSPENDED or STATE_DELETED' });
      const page = await administration.list(state ? { state } : {}, req);
      const counts = await taskCounts.of(page.items.map((i) => orgName(i.org.id)));
      return {
        organizations: page.items.map((i) => toAdminOrganizationMessage(i.org, i.memberCount, counts[orgName(i.org.id)] ?? 0)),
        nextPageToken: page.nextPageToken,
      };
    },
    async suspendOrganization(req, ctx) {
      const actor = await requireAdmin(ctx);
      return { organization: await withTasks(await administration.suspend(actor, orgIdOf(req.name), req.reason)) };
    },
    async reactivateOrganization(req, ctx) {
      const actor = await requireAdmin(ctx);
      return { organization: await withTasks(await administration.reactivate(actor, orgIdOf(req.name))) };
    },
    async updateOrganization(req, ctx) {
      const actor = await requireAdmin(ctx);
      if (!req.organization) throw new InvalidArgumentError({ field: 'organization', description: 'is required' });
      maskedFields(req.updateMask, { plan: 'plan' });
      const plan = planFromProto(req.organization.plan);
      if (!plan) throw new InvalidArgumentError({ field: 'organization.plan', description: 'must be PLAN_FREE, PLAN_TEAM or PLAN_ENTERPRISE' });
      return { organization: await withTasks(await administration.setPlan(actor, orgIdOf(req.organization.name, 'organization.name'), plan)) };
    },
    async listAuditEvents(req, ctx) {
      await requireAdmin(ctx);
      const orgId = req.organization ? orgIdOf(req.organization, 'organization') : undefined;
      const page = await administration.auditLog(orgId ? { orgId } : {}, req);
      return { auditEvents: page.items.map(toPlatformAuditEventMessage), nextPageToken: page.nextPageToken };
    },
    async listDeadLetters(req, ctx) {
      await requireAdmin(ctx);
      const page = await deadLetters.list({ consumer: req.consumer }, req);
      return { deadLetters: page.items.map(toDeadLetterMessage), nextPageToken: page.nextPageToken };
    },
    async replayDeadLetter(req, ctx) {
      const actor = await requireAdmin(ctx);
      const letter = await deadLetters.replay(req.name);
      await administration.recordDeadLetterAction(actor, 'ReplayDeadLetter', `${req.name} (${letter.eventType ?? 'undecodable'} ${letter.eventId ?? ''}) to ${letter.originalSubject}`);
      return { deadLetter: toDeadLetterMessage(letter) };
    },
    async replayAllDeadLetters(req, ctx) {
      const actor = await requireAdmin(ctx);
      const replayed = await deadLetters.replayAll({ consumer: req.consumer });
      await administration.recordDeadLetterAction(
        actor,
        'ReplayAllDeadLetters',
        `${replayed.length} dead letter(s)${req.consumer ? ` of ${req.consumer}` : ''}: ${replayed.map((l) => l.seq).join(', ')}`,
      );
      return { deadLetters: replayed.map(toDeadLetterMessage) };
    },
  };
}
