import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Code } from '../../../gen/client/index.ts';
import { apiError, signUpAs } from '../../edge/test/typed-client.ts';
import { eventually, startAuditStack, type AuditStack } from './harness.ts';

let stack: AuditStack;

beforeAll(async () => {
  stack = await startAuditStack({ rest: true });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const signedIn = (label: string) => signUpAs(stack.url, label);

describe('GET /v1/organizations/{org}/auditEvents', () => {
  it('serves the log in Envoy JSON with query-parameter filters and paging; 403 for a member, 404 for a stranger', async () => {
    const owner = await signedIn('owner');
    const member = await signedIn('member');
    const stranger = await signedIn('stranger');
    const org = (await owner.api.org.createOrganization({ organization: { displayName: 'REST audit' } })).organization!.name;
    const { token } = await owner.api.org.createInvitation({ parent: org, invitation: { email: member.email, role: 'ROLE_MEMBER' } });
    await member.api.org.acceptInvitation({ token });
    await owner.api.org.updateOrganization({ organization: { name: org, displayName: 'REST audit 2' }, updateMask: 'displayName' });

    const all = await eventually(async () => {
      const res = await owner.api.audit.listAuditEvents({ parent: org });
      return res.auditEvents.length === 4 && res.auditEvents;
    }, 'four audit events');
    expect(all.map((e) => e.eventType)).toEqual([
      'taskmesh.org.v1.OrganizationUpdated',
      'taskmesh.org.v1.InvitationAccepted',
      'taskmesh.org.v1.InvitationCreated',
      'taskmesh.org.v1.OrganizationCreated',
    ]);
    const [updated] = all;
    expect(updated).toMatchObject({
      actor: owner.user,
      resource: org,
      changes: [{ field: 'display_name', oldValue: 'REST audit', newValue: 'REST audit 2' }],
      payload: { '@type': 'type.googleapis.com/taskmesh.org.v1.OrganizationUpdated', organization: { name: org, displayName: 'REST audit 2' } },
    });
    expect(updated!.occurTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);

    // Filters and paging travel as query parameters (eventType, actor, after; pageSize, pageToken).
    const byType = await owner.api.audit.listAuditEvents({ parent: org, eventType: 'taskmesh.org.v1.InvitationAccepted' });
    expect(byType.auditEvents.map((e) => e.actor)).toEqual([member.user]);
    const fromUpdate = await owner.api.audit.listAuditEvents({ parent: org, after: updated!.occurTime!, actor: owner.user });
    expect(fromUpdate.auditEvents.map((e) => e.eventId)).toEqual([updated!.eventId]);
    const first = await owner.api.audit.listAuditEvents({ parent: org, pageSize: 3 });
    const second = await owner.api.audit.listAuditEvents({ parent: org, pageSize: 3, pageToken: first.nextPageToken });
    expect([...first.auditEvents, ...second.auditEvents].map((e) => e.eventId)).toEqual(all.map((e) => e.eventId));
    expect(second.nextPageToken).toBe('');

    const forbidden = await apiError(member.api.audit.listAuditEvents({ parent: org }));
    expect([forbidden.httpStatus, forbidden.code]).toEqual([403, Code.PERMISSION_DENIED]);
    const hidden = await apiError(stranger.api.audit.listAuditEvents({ parent: org }));
    expect([hidden.httpStatus, hidden.code]).toEqual([404, Code.NOT_FOUND]);
    const invalid = await apiError(owner.api.audit.listAuditEvents({ parent: org, pageSize: -1 }));
    expect([invalid.httpStatus, invalid.code]).toEqual([400, Code.INVALID_ARGUMENT]);
  }, 60_000);
});
