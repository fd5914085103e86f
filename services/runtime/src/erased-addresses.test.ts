import { describe, expect, it } from 'vitest';
import { InvitationCreated, InvitationRevoked, MemberRemoved } from '@taskmesh/gen/taskmesh/org/v1/events.js';
import { Role } from '@taskmesh/gen/taskmesh/org/v1/member.js';
import { emailDigest } from './email-addresses.ts';
import { addressInEvent, eventWithoutAddress } from './erased-addresses.ts';

const invitation = 'organizations/0b7f2c4e-8a7d-4c37-9a4e-1f2d3c4b5a69/invitations/5d1e8f3a-2b4c-4d6e-8f0a-1b2c3d4e5f60';

describe('erased addresses in event payloads', () => {
  it('reads and blanks the invitee address of InvitationCreated, keeping the rest', () => {
    const payload = InvitationCreated.encode({
      invitation: { name: invitation, email: 'Ada@Example.com', role: Role.ROLE_MEMBER, inviter: 'users/x' },
      organizationDisplayName: 'Acme',
      replacedInvitation: '',
    }).finish();
    expect(addressInEvent('taskmesh.org.v1.InvitationCreated', payload)).toBe('Ada@Example.com');
    const blanked = InvitationCreated.decode(eventWithoutAddress('taskmesh.org.v1.InvitationCreated', payload));
    expect(blanked.invitation).toMatchObject({ name: invitation, email: '', role: Role.ROLE_MEMBER, inviter: 'users/x' });
    expect(blanked.organizationDisplayName).toBe('Acme');
  });

  it('reads and blanks the address of InvitationRevoked', () => {
    const payload = InvitationRevoked.encode({ invitation, email: 'ada@example.com' }).finish();
    expect(addressInEvent('taskmesh.org.v1.InvitationRevoked', payload)).toBe('ada@example.com');
    expect(InvitationRevoked.decode(eventWithoutAddress('taskmesh.org.v1.InvitationRevoked', payload))).toMatchObject({ invitation, email: '' });
  });

  it('leaves other event types alone', () => {
    const payload = MemberRemoved.encode({ member: 'organizations/o/members/u', user: 'users/u', role: Role.ROLE_MEMBER, left: true }).finish();
    expect(addressInEvent('taskmesh.org.v1.MemberRemoved', payload)).toBeUndefined();
    expect(eventWithoutAddress('taskmesh.org.v1.MemberRemoved', payload)).toBe(payload);
  });

  it('names an address by the SHA-256 of its normalized form', () => {
    expect(emailDigest(' Ada@Example.COM ')).toBe(emailDigest('ada@example.com'));
    expect(emailDigest('ada@example.com')).toMatch(/^[0-9a-f]{64}$/);
  });
});
