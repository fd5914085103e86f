import { describe, expect, it } from 'vitest';
import { newSigningSecret, previousSecretActive, signatureHeaderOf, signatureOf } from './signature.ts';

describe('Standard Webhooks signature', () => {
  it('matches the specification example', () => {
    expect(signatureOf('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });
  it('makes secrets of whsec_ and 32 random bytes', () => {
    const a = newSigningSecret();
    expect(a).toMatch(/^whsec_/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(a);
  });
  it('puts one space-separated signature per secret in the header, the first secret first', () => {
    const [current, previous] = [newSigningSecret(), newSigningSecret()];
    const header = signatureHeaderOf([current, previous], 'msg_1', 1614265330, '{}');
    expect(header.split(' ')).toEqual([signatureOf(current, 'msg_1', 1614265330, '{}'), signatureOf(previous, 'msg_1', 1614265330, '{}')]);
    expect(signatureHeaderOf([current], 'msg_1', 1614265330, '{}')).toBe(signatureOf(current, 'msg_1', 1614265330, '{}'));
  });
  it('treats a previous secret as signing until its expiry only', () => {
    const now = new Date('2026-12-06T00:00:00Z');
    expect(previousSecretActive(null, now)).toBe(false);
    expect(previousSecretActive(new Date(now.getTime() + 1), now)).toBe(true);
    expect(previousSecretActive(now, now)).toBe(false);
  });
});
