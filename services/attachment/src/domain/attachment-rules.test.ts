import { describe, expect, it } from 'vitest';
import { contentTypeViolation, filenameViolation, mayChangeAttachments, sameMediaType, sizeViolation } from './attachment-rules.ts';

describe('attachment rules', () => {
  it('accepts ordinary file names and refuses paths, control characters and empty names', () => {
    expect(filenameViolation('report Q3 (final).pdf')).toBeUndefined();
    expect(filenameViolation('résumé.docx')).toBeUndefined();
    expect(filenameViolation('../etc/passwd')?.field).toBe('attachment.filename');
    expect(filenameViolation('a\\b')).toBeDefined();
    expect(filenameViolation('line\nbreak')).toBeDefined();
    expect(filenameViolation('  ')).toBeDefined();
    expect(filenameViolation('x'.repeat(256))).toBeDefined();
  });

  it('accepts media types with parameters and refuses anything else', () => {
    expect(contentTypeViolation('application/pdf')).toBeUndefined();
    expect(contentTypeViolation('text/plain; charset=utf-8')).toBeUndefined();
    expect(contentTypeViolation('pdf')).toBeDefined();
    expect(contentTypeViolation('text/plain\r\nx-evil: 1')).toBeDefined();
    expect(contentTypeViolation('')).toBeDefined();
  });

  it('bounds the size by the limit', () => {
    expect(sizeViolation(0, 10)).toBeUndefined();
    expect(sizeViolation(10, 10)).toBeUndefined();
    expect(sizeViolation(11, 10)?.description).toContain('at most 10 bytes');
    expect(sizeViolation(-1, 10)).toBeDefined();
  });

  it('lets a MEMBER change attachments only of tasks they created or are assigned to', () => {
    const task = { creatorId: 'c', assigneeIds: ['a'] };
    expect(mayChangeAttachments('OWNER', 'x', task)).toBe(true);
    expect(mayChangeAttachments('ADMIN', 'x', task)).toBe(true);
    expect(mayChangeAttachments('MEMBER', 'c', task)).toBe(true);
    expect(mayChangeAttachments('MEMBER', 'a', task)).toBe(true);
    expect(mayChangeAttachments('MEMBER', 'x', task)).toBe(false);
    expect(mayChangeAttachments('VIEWER', 'c', task)).toBe(false);
  });

  it('compares media types without case or parameter spacing', () => {
    expect(sameMediaType('Text/Plain; charset=utf-8', 'text/plain;charset=utf-8')).toBe(true);
    expect(sameMediaType('image/png', 'image/jpeg')).toBe(false);
  });
});
