import type { FieldChange } from '@taskmesh/gen/taskmesh/events/v1/field_change.js';
import { BoardUpdated, ListMoved, ListUpdated } from '@taskmesh/gen/taskmesh/board/v1/events.js';
import { MemberRoleChanged, OrganizationPlanChanged, OrganizationSuspended, OrganizationUpdated } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { planToJSON } from '@taskmesh/gen/taskmesh/org/v1/organization.js';
import { roleToJSON } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { TaskMoved, TaskUpdated } from '@taskmesh/gen/taskmesh/task/v1/events.js';
import type { RecordedChange } from '../db/entities.ts';

/**
 * Which domain events the audit log records, and the field changes each one carries.
 *
 * The rule: one audit entry per mutating API call. A call writes one primary event, the one that says what
 * the caller did; some calls also write companion events in the same transaction, which restate part of the
 * primary one for consumers that care about only that part (notify mails an assignee on TaskAssigned, caches
 * evict on membership changes). The audit log records the primary event and not its companions, whose facts
 * it already holds (the primary's payload and changes). Events outside any organization (identity's) belong
 * to no org's log: account-level history is not tenant data, and no tenant admin may read it.
 *
 * Every event message of every events.proto is in exactly one of the two tables below; a test checks that
 * against the descriptor set, so a new event type cannot be silently left out of the log.
 */
type ChangesOf = (payload: Uint8Array) => RecordedChange[];

const noChanges: ChangesOf = () => [];

/** For update events whose payload lists its changes (the producer computed them from the update mask). */
const reported =
  (codec: { decode(input: Uint8Array): { changes: FieldChange[] } }): ChangesOf =>
  (payload) =>
    codec.decode(payload).changes.map((change) => ({
      field: change.field,
      oldValue: change.oldValue ?? null,
      newValue: change.newValue ?? null,
    }));

const change = (field: string, oldValue: unknown, newValue: unknown): RecordedChange => ({ field, oldValue, newValue });

export const AUDITED_EVENTS: Readonly<Record<string, ChangesOf>> = {
  'taskmesh.org.v1.OrganizationCreated': noChanges,
  'taskmesh.org.v1.OrganizationUpdated': reported(OrganizationUpdated),
  'taskmesh.org.v1.OrganizationDeleted': noChanges,
  'taskmesh.org.v1.MemberRoleChanged': (payload) => {
    const event = MemberRoleChanged.decode(payload);
    return [change('role', roleToJSON(event.oldRole), roleToJSON(event.newRole))];
  },
  'taskmesh.org.v1.MemberRemoved': noChanges,
  // The platform administration's actions (the actor is the platform administrator, not a member).
  'taskmesh.org.v1.OrganizationSuspended': (payload) => [change('state', 'ACTIVE', 'SUSPENDED'), change('suspend_reason', null, OrganizationSuspended.decode(payload).reason)],
  'taskmesh.org.v1.OrganizationReactivated': () => [change('state', 'SUSPENDED', 'ACTIVE')],
  'taskmesh.org.v1.OrganizationPlanChanged': (payload) => {
    const event = OrganizationPlanChanged.decode(payload);
    return [change('plan', planToJSON(event.oldPlan), planToJSON(event.newPlan))];
  },
  'taskmesh.org.v1.InvitationCreated': noChanges,
  'taskmesh.org.v1.InvitationAccepted': noChanges,
  'taskmesh.org.v1.InvitationRevoked': noChanges,
  'taskmesh.org.v1.ApiTokenCreated': noChanges,
  'taskmesh.org.v1.ApiTokenRevoked': noChanges,
  'taskmesh.board.v1.BoardCreated': noChanges,
  'taskmesh.board.v1.BoardUpdated': reported(BoardUpdated),
  'taskmesh.board.v1.BoardDeleted': noChanges,
  'taskmesh.board.v1.ListCreated': noChanges,
  'taskmesh.board.v1.ListUpdated': reported(ListUpdated),
  'taskmesh.board.v1.ListMoved': (payload) => {
    const event = ListMoved.decode(payload);
    return [change('position', event.oldPosition, event.newPosition)];
  },
  'taskmesh.board.v1.ListDeleted': noChanges,
  'taskmesh.task.v1.TaskCreated': noChanges,
  'taskmesh.task.v1.TaskUpdated': reported(TaskUpdated),
  'taskmesh.task.v1.TaskMoved': (payload) => {
    const event = TaskMoved.decode(payload);
    return [
      ...(event.oldList === event.newList ? [] : [change('list', event.oldList, event.newList)]),
      change('position', event.oldPosition, event.newPosition),
    ];
  },
  'taskmesh.task.v1.TaskDeleted': noChanges,
  'taskmesh.task.v1.CommentAdded': noChanges,
  'taskmesh.task.v1.CommentDeleted': noChanges,
  'taskmesh.share.v1.ShareLinkCreated': noChanges,
  'taskmesh.share.v1.ShareLinkRevoked': noChanges,
  // Opened by someone without an account: the entry's actor is empty.
  'taskmesh.share.v1.ShareLinkOpened': noChanges,
  'taskmesh.attachment.v1.AttachmentCreated': noChanges,
  'taskmesh.attachment.v1.AttachmentCompleted': noChanges,
  'taskmesh.attachment.v1.AttachmentDeleted': noChanges,
  'taskmesh.attachment.v1.OrganizationExportRequested': noChanges,
  'taskmesh.attachment.v1.OrganizationExportCancelled': noChanges,
  'taskmesh.attachment.v1.OrganizationExportDeleted': noChanges,
  'taskmesh.webhook.v1.WebhookCreated': noChanges,
  'taskmesh.webhook.v1.WebhookUpdated': noChanges,
  'taskmesh.webhook.v1.WebhookDeleted': noChanges,
  'taskmesh.webhook.v1.WebhookDisabled': noChanges,
  // Its payload is the endpoint with the grace period's end; neither secret is in any event.
  'taskmesh.webhook.v1.WebhookSecretRotated': noChanges,
};

/** Event types deliberately not recorded, each with the reason. */
export const NOT_AUDITED: Readonly<Record<string, string>> = {
  'taskmesh.identity.v1.UserSignedUp': 'outside any organization',
  'taskmesh.identity.v1.PasswordResetRequested': 'outside any organization',
  'taskmesh.identity.v1.SessionsEnded': 'outside any organization',
  'taskmesh.identity.v1.UserErased': 'outside any organization (the MemberRemoved it causes in each org is recorded)',
  'taskmesh.org.v1.OrganizationPurged': "the purge removes the organization's log with the rest of its data",
  'taskmesh.org.v1.MemberAdded': 'companion of OrganizationCreated (the creator) and InvitationAccepted (the invitee)',
  'taskmesh.task.v1.TaskAssigned': 'companion of TaskCreated and TaskUpdated (the assignees are in their payload and changes)',
  'taskmesh.task.v1.TaskStatusChanged': 'companion of TaskUpdated (the status is in its changes)',
};

export const AUDITED_EVENT_TYPES: readonly string[] = Object.keys(AUDITED_EVENTS);

/** The field changes an audited event carries; throws if the payload does not decode as its type. */
export function changesOf(type: string, payload: Uint8Array): RecordedChange[] {
  const extract = AUDITED_EVENTS[type];
  if (!extract) throw new Error(`event type ${type} is not audited`);
  return extract(payload);
}
