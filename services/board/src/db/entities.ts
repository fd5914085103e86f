import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { TenantScoped } from '@taskmesh/runtime/tenancy';

/** A board. Soft-deleted: once deletedAt is set, the board and everything under it answer NOT_FOUND. */
export const BoardRecord = defineEntity({
  name: 'BoardRecord',
  tableName: 'boards',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    displayName: p.text(),
    description: p.text(),
    /** Bumped on every change; the etag is derived from it. */
    version: p.integer(),
    createdBy: p.uuid(),
    /** CreateBoardRequest.request_id, unique per org and creator, so a retry finds the first result. */
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    deletedAt: p.datetime().nullable(),
  },
});
export type BoardRecord = InferEntity<typeof BoardRecord>;

/**
 * A list of a board. `position` is a fractional order key, unique among the board's live lists and compared
 * byte-wise (the column has collation "C", so PostgreSQL orders it exactly as JavaScript compares strings).
 */
export const ListRecord = defineEntity({
  name: 'ListRecord',
  tableName: 'lists',
  extends: TenantScoped,
  properties: {
    id: p.uuid().primary(),
    boardId: p.uuid(),
    displayName: p.text(),
    position: p.text(),
    version: p.integer(),
    createdBy: p.uuid(),
    createRequestId: p.text().nullable(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    deletedAt: p.datetime().nullable(),
  },
});
export type ListRecord = InferEntity<typeof ListRecord>;
