import { InvalidArgumentError, NotFoundError } from '@taskmesh/runtime/errors';
import { isResourceId } from '@taskmesh/runtime/resource-names';

/** How long a presigned download URL of an export archive works (the one hour). */
export const ARCHIVE_URL_TTL_SECONDS = 60 * 60;
/** The archive format's version (docs/export-format.md); raised on any incompatible change. */
export const EXPORT_FORMAT_VERSION = 1;
/** Attempts of one export (a worker that died mid-way counts as one) before it is marked failed. */
export const EXPORT_MAX_ATTEMPTS = 3;
/** How long a worker holds an export before another may take it over; renewed while it runs. */
export const EXPORT_LEASE_SECONDS = 120;
/** Bytes of an attachment object per archive record (base64 makes 1 MiB of text of it). */
export const OBJECT_CHUNK_BYTES = 768 * 1024;

/** How often at most a running export asks the database whether it was cancelled (at its page and object boundaries). */
export const EXPORT_CANCEL_CHECK_MS = 500;

export type ExportState = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export const isDone = (state: string): boolean => state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED';

/** Where an operation's archive is written: one key per operation, known before it is uploaded (cancel removes it). */
export const archiveKeyOf = (orgId: string, operationId: string): string => `exports/${orgId}/${operationId}.jsonl.gz`;

/**
 * An operation's name carries its organization (`operations/{org}.{operation}`), so GetOperation runs the
 * org-context chain on it like any tenant call: another org's operation is NOT_FOUND, as if it never existed.
 */
export const operationNameOf = (orgId: string, operationId: string): string => `operations/${orgId}.${operationId}`;

export function parseOperationName(name: string, field = 'name'): { orgId: string; operationId: string } {
  const match = /^operations\/([^/.]+)\.([^/.]+)$/.exec(name);
  if (!match) throw new InvalidArgumentError({ field, description: 'must be operations/{operation}, as ExportOrganization returned it' });
  const [, orgId, operationId] = match as unknown as [string, string, string];
  if (!isResourceId(orgId) || !isResourceId(operationId)) throw new NotFoundError(name);
  return { orgId, operationId };
}
