import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newInvitationToken, orgIdOfInvitationToken } from './invitation-token.ts';

describe('invitation tokens', () => {
  it('carry their org id and a 256-bit secret, and differ every time', () => {
    const org = randomUUID();
    const a = newInvitationToken(org);
    const b = newInvitationToken(org);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).toHaveLength(43);
    expect(orgIdOfInvitationToken(a)).toBe(org);
  });

  it('reject malformed tokens', () => {
    expect(orgIdOfInvitationToken('')).toBeUndefined();
    expect(orgIdOfInvitationToken('abc.def')).toBeUndefined();
    expect(orgIdOfInvitationToken(`${newInvitationToken(randomUUID())}x`)).toBeUndefined();
  });
});
