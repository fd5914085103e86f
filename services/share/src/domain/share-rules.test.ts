import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { checkLinkPassword, expiryOf, isShareCode, newShareCode, SHARE_CODE_LENGTH } from './share-rules.ts';

const DAY = 24 * 60 * 60 * 1000;

describe('share codes', () => {
  it('are 22 base62 characters carrying 128 random bits, all zero bits included', () => {
    expect(newShareCode(new Uint8Array(16))).toBe('0'.repeat(SHARE_CODE_LENGTH));
    expect(newShareCode(new Uint8Array(16).fill(255))).toMatch(/^[0-9A-Za-z]{22}$/);
    const codes = new Set(Array.from({ length: 1000 }, () => newShareCode()));
    expect(codes.size).toBe(1000);
    for (const code of codes) expect(isShareCode(code)).toBe(true);
  });

  it('refuse anything that is not 22 base62 characters', () => {
    for (const bad of ['', 'abc', `${'a'.repeat(21)}-`, 'a'.repeat(23), `${'a'.repeat(21)}é`]) expect(isShareCode(bad)).toBe(false);
  });
});

describe('link expiry', () => {
  const now = new Date('2026-12-05T06:00:00Z');
  it('defaults to 7 days', () => {
    expect(expiryOf(undefined, now).getTime() - now.getTime()).toBe(7 * DAY);
  });
  it('accepts up to 90 days ahead and refuses the past and beyond 90 days', () => {
    expect(expiryOf(new Date(now.getTime() + 90 * DAY), now).getTime()).toBe(now.getTime() + 90 * DAY);
    expect(() => expiryOf(new Date(now.getTime() - 1), now)).toThrow(InvalidArgumentError);
    expect(() => expiryOf(new Date(now.getTime() + 91 * DAY), now)).toThrow(/at most 90 days/);
  });
});

describe('link passwords', () => {
  it('are optional, and otherwise 8 to 1,024 characters', () => {
    expect(() => checkLinkPassword('')).not.toThrow();
    expect(() => checkLinkPassword('12345678')).not.toThrow();
    expect(() => checkLinkPassword('1234567')).toThrow(/at least 8/);
    expect(() => checkLinkPassword('x'.repeat(1025))).toThrow(/at most 1024/);
  });
});
