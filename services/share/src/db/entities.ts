import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** A share link. The code is kept only as its SHA-256 digest, the password only as an argon2id hash. */
export const ShareLinkRecord = defineEntity({
  name: 'ShareLinkRecord',
  tableName: 'share_links',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    boardId: p.uuid(),
    taskId: p.uuid(),
    codeHash: p.text().unique(),
    passwordHash: p.text().nullable(),
    expiresAt: p.datetime(),
    revokedAt: p.datetime().nullable(),
    openCount: p.integer(),
    createdBy: p.uuid(),
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
  },
});
export type ShareLinkRecord = InferEntity<typeof ShareLinkRecord>;

/**
 * Which org a code belongs to: the one lookup a public reader needs before the org is known. Not tenant data
 * (no RLS): it holds a digest and an org id, and finding a row needs the code itself. Everything else about
 * the link is read bound to that org, behind both walls.
 */
export const ShareCodeRecord = defineEntity({
  name: 'ShareCodeRecord',
  tableName: 'share_codes',
  properties: {
    codeHash: p.text().primary(),
    orgId: p.uuid(),
  },
});
export type ShareCodeRecord = InferEntity<typeof ShareCodeRecord>;

/**
 * The read model of a shared task: a snapshot taken (as the creator) when a link is made, kept current by task
 * events and removed when the task goes. Only tasks with links are kept.
 */
export const SharedTaskRecord = defineEntity({
  name: 'SharedTaskRecord',
  tableName: 'shared_tasks',
  extends: TenantScoped,
  properties: {
    taskId: p.uuid().primary(),
    boardId: p.uuid(),
    listId: p.uuid(),
    title: p.text(),
    description: p.text(),
    status: p.integer(),
    priority: p.integer(),
    dueTime: p.datetime().nullable(),
    labels: p.json<string[]>(),
    /** The task's update_time of this snapshot; an older event never overwrites a newer snapshot. */
    taskUpdatedAt: p.datetime(),
  },
});
export type SharedTaskRecord = InferEntity<typeof SharedTaskRecord>;

/** Display names of the boards and lists that shared tasks sit in (from board events). */
export const SharedPlaceRecord = defineEntity({
  name: 'SharedPlaceRecord',
  tableName: 'shared_places',
  extends: TenantScoped,
  properties: {
    /** A board id or a list id. */
    id: p.uuid().primary(),
    boardId: p.uuid(),
    kind: p.text(),
    displayName: p.text(),
  },
});
export type SharedPlaceRecord = InferEntity<typeof SharedPlaceRecord>;
