import { describe, expect, it } from 'vitest';
import { digestToken, emailViolation, newSecretToken, normalizeEmail, passwordViolation } from './credentials.ts';

describe('credential rules', () => {
  it('accepts ordinary addresses and rejects malformed ones', () => {
    expect(emailViolation('ada@example.com')).toBeUndefined();
    expect(emailViolation('Ada.Lovelace+x@mail.example.org')).toBeUndefined();
    for (const bad of ['', 'ada', 'ada@', '@example.com', 'ada@example', 'a da@example.com', 'ada@@example.com']) {
      expect(emailViolation(bad), bad).toBeDefined();
    }
  });

  it('normalizes e-mail case and surrounding space', () => {
    expect(normalizeEmail('  Ada@Example.COM ')).toBe('ada@example.com');
  });

  it('requires 10+ characters and refuses the e-mail as password', () => {
    expect(passwordViolation('short', 'a@example.com')?.description).toMatch(/at least 10/);
    expect(passwordViolation('A@Example.com', 'a@example.com')?.description).toMatch(/e-mail/);
    expect(passwordViolation('correct horse battery', 'a@example.com')).toBeUndefined();
  });

  it('makes 256-bit tokens and stores only their digest', () => {
    const token = newSecretToken();
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(digestToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(digestToken(token)).not.toContain(token);
  });
});
