import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_LINK_LIFETIME_MS = 7 * DAY_MS;
export const MAX_LINK_LIFETIME_MS = 90 * DAY_MS;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 1024;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
/** 128 random bits need 22 base62 digits (62^22 > 2^128). */
export const SHARE_CODE_LENGTH = 22;
const SHARE_CODE = /^[0-9A-Za-z]{22}$/;

/** A new share code: 128 random bits as fixed-length base62 (URL-safe without escaping). */
export function newShareCode(random: Uint8Array = randomBytes(16)): string {
  let value = BigInt(`0x${Buffer.from(random).toString('hex') || '0'}`);
  let code = '';
  while (value > 0n) {
    code = BASE62[Number(value % 62n)]! + code;
    value /= 62n;
  }
  return code.padStart(SHARE_CODE_LENGTH, '0');
}

/** Whether a string can be a share code; anything else is answered like an unknown code. */
export function isShareCode(code: string): boolean {
  return SHARE_CODE.test(code);
}

/** When a new link expires: 7 days from now unless asked; asked must be in the future and at most 90 days ahead. */
export function expiryOf(requested: Date | undefined, now: Date): Date {
  if (!requested) return new Date(now.getTime() + DEFAULT_LINK_LIFETIME_MS);
  const field = 'share_link.expire_time';
  if (Number.isNaN(requested.getTime()) || requested.getTime() <= now.getTime()) {
    throw new InvalidArgumentError({ field, description: 'must be in the future' });
  }
  // A minute of slack, so a client asking for "now + 90 days" is not refused for its own clock's drift.
  if (requested.getTime() > now.getTime() + MAX_LINK_LIFETIME_MS + 60_000) {
    throw new InvalidArgumentError({ field, description: 'must be at most 90 days ahead' });
  }
  return requested;
}

/** An optional link password: empty means none; otherwise 8 to 1,024 characters. */
export function checkLinkPassword(password: string): void {
  if (password === '') return;
  const field = 'share_link.password';
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new InvalidArgumentError({ field, description: `must be at least ${MIN_PASSWORD_LENGTH} characters` });
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new InvalidArgumentError({ field, description: `must be at most ${MAX_PASSWORD_LENGTH} characters` });
  }
}
