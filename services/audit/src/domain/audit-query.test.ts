import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { encodePageToken } from '@taskmesh/runtime/paging';
import { auditQueryOf, cursorAfter, type AuditLogRequest } from './audit-query.ts';

const ORG = '0b8f6a8e-2a51-4a57-9d64-7f3e0c2f4d11';
const USER = 'users/7a6f4077-022c-4f63-a8dd-c0b47f294422';
const none: AuditLogRequest = { actor: '', resource: '', eventType: '', pageSize: 0, pageToken: '' };

function violations(request: Partial<AuditLogRequest>): string[] {
  try {
    auditQueryOf(ORG, { ...none, ...request });
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err.violations.map((v) => v.field);
    throw err;
  }
  return [];
}

describe('audit log queries', () => {
  it('leave unset filters out and default the page size', () => {
    expect(auditQueryOf(ORG, none)).toMatchObject({ orgId: ORG, pageSize: 50 });
    expect(auditQueryOf(ORG, none)).not.toHaveProperty('actor');
    expect(auditQueryOf(ORG, { ...none, pageSize: 10_000 }).pageSize).toBe(500);
  });

  it('reject a malformed actor or event type and an empty time range, naming each field', () => {
    expect(violations({ actor: 'alice', eventType: 'MemberRemoved' })).toEqual(['actor', 'event_type']);
    expect(violations({ after: new Date(5), before: new Date(5) })).toEqual(['before']);
    expect(violations({ actor: USER, eventType: 'taskmesh.org.v1.MemberRemoved', after: new Date(1), before: new Date(2) })).toEqual([]);
  });

  it('resume after the cursor of the last entry served, for the same filters only', () => {
    const first = auditQueryOf(ORG, { ...none, actor: USER });
    const last = { occurTime: new Date('2026-11-23T10:00:00.123Z'), id: '5c7f339f-3e12-4c5d-882b-7f145bb1a960' };
    const token = encodePageToken({ after: cursorAfter(last), query: first.fingerprint });
    expect(auditQueryOf(ORG, { ...none, actor: USER, pageToken: token }).cursor).toEqual(last);
    expect(violations({ pageToken: token })).toEqual(['page_token']);
    const forged = encodePageToken({ after: ['yesterday', 'x'], query: first.fingerprint });
    expect(violations({ actor: USER, pageToken: forged })).toEqual(['page_token']);
  });
});
