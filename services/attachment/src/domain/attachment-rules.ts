import { InvalidArgumentError, type FieldViolation } from '@taskmesh/runtime/errors';

/** How long the presigned upload URL works. */
export const UPLOAD_URL_TTL_SECONDS = 15 * 60;
/** How long the presigned download URL works. */
export const DOWNLOAD_URL_TTL_SECONDS = 5 * 60;

export type AttachmentState = 'PENDING' | 'READY';

const MAX_FILENAME_CHARS = 255;
// type/subtype with RFC 6838 token characters, optional parameters (e.g. "; charset=utf-8").
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(\s*;\s*[a-z0-9!#$&^_.+-]+=("[^"\\\r\n]*"|[a-z0-9!#$&^_.+-]+))*$/i;

export function filenameViolation(filename: string): FieldViolation | undefined {
  const field = 'attachment.filename';
  if (filename.trim().length === 0) return { field, description: 'must be set' };
  if ([...filename].length > MAX_FILENAME_CHARS) return { field, description: `must be at most ${MAX_FILENAME_CHARS} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f/\\]/.test(filename)) return { field, description: 'must not contain path separators or control characters' };
  if (filename === '.' || filename === '..') return { field, description: 'must be a file name' };
  return undefined;
}

export function contentTypeViolation(contentType: string): FieldViolation | undefined {
  const field = 'attachment.content_type';
  if (contentType.length === 0) return { field, description: 'must be set' };
  if (contentType.length > 255 || !MEDIA_TYPE.test(contentType)) return { field, description: 'must be a media type such as application/pdf' };
  return undefined;
}

export function sizeViolation(sizeBytes: number, maxBytes: number): FieldViolation | undefined {
  const field = 'attachment.size_bytes';
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) return { field, description: 'must be a size in bytes' };
  if (sizeBytes > maxBytes) return { field, description: `must be at most ${maxBytes} bytes` };
  return undefined;
}

export function rejectViolations(violations: (FieldViolation | undefined)[]): void {
  const found = violations.filter((v): v is FieldViolation => v !== undefined);
  if (found.length > 0) throw new InvalidArgumentError(found);
}

/**
 * Who may add, complete and delete attachments of a task (API.md "Roles"): OWNER and ADMIN on any task, a
 * MEMBER on tasks they may update, i.e. that they created or are assigned to. VIEWERs never.
 */
export function mayChangeAttachments(role: string, userId: string, task: { creatorId: string; assigneeIds: readonly string[] }): boolean {
  if (role === 'OWNER' || role === 'ADMIN') return true;
  if (role !== 'MEMBER') return false;
  return task.creatorId === userId || task.assigneeIds.includes(userId);
}

/** Media types compare case-insensitively and without the spaces around parameters. */
export function sameMediaType(a: string, b: string): boolean {
  const norm = (value: string) => value.toLowerCase().replace(/\s*;\s*/g, ';').trim();
  return norm(a) === norm(b);
}
