import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary, type UnaryMethod } from '@taskmesh/runtime/grpc-client';
import { failure, reasonOf, retryDelayOf, violationsOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { SigningKeyRecord } from '../src/db/entities.ts';
import { identityService } from '../src/descriptor.ts';
import type { RunningIdentity } from '../src/server.ts';

let stack: TestStack;
let running: RunningIdentity;
let client: IdentityServiceClient;

function call<Req, Res>(method: UnaryMethod<Req, Res>, req: Req, metadata: Metadata = new Metadata()): Promise<Res> {
  return callUnary(client, method, req, { metadata });
}
const bearer = (token: string) => {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};
const fromAddress = (address: string) => {
  const md = new Metadata();
  md.set('x-forwarded-for', `203.0.113.99, ${address}`);
  return md;
};
let addressCounter = 0;
const freshAddress = () => `198.51.100.${++addressCounter}`;
let emailCounter = 0;
const freshEmail = () => `user${++emailCounter}-${Date.now()}@example.com`;
const PASSWORD = 'correct horse battery';

/** The SignUp RPC under test (the shared signUp helper of runtime/testing makes ready test users instead). */
const callSignUp = (email = freshEmail(), password = PASSWORD) =>
  call(client.signUp, { email, password, displayName: 'Ada Lovelace' });
const logIn = (email: string, password: string, address = freshAddress(), deviceToken = '') =>
  call(client.logIn, { email, password, deviceToken }, fromAddress(address));

function mailsTo(address: string): string[] {
  const dir = join(stack.db.dataDir, 'mail');
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    return [];
  }
  return files
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .filter((m) => m.includes(`To: ${address}`));
}
async function waitForMail(address: string, count = 1): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const mails = mailsTo(address);
    if (mails.length >= count) return mails[count - 1]!;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail to ${address}`);
}
const resetTokenIn = (mail: string) => /reset token: ([A-Za-z0-9_-]{43})/.exec(mail.replace(/=\n/g, ''))?.[1];

beforeAll(async () => {
  stack = await startTestStack({
    services: [identityService],
    overrides: {
      LOGIN_FREE_FAILURES_PER_PAIR: '3',
      LOGIN_DELAY_BASE_SECONDS: '30',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '8',
      LOGIN_MAX_FAILURES_PER_ADDRESS: '12',
      SIGNUP_MAX_PER_ADDRESS: '1000',
      RESET_MAX_PER_ADDRESS: '1000',
    },
  });
  running = stack.get(identityService);
  client = stack.clientOf(IdentityServiceClient);
});

afterAll(async () => {
  await stack?.close();
});

describe('identity service', () => {
  describe('sign-up', () => {
    it('creates the user and returns a 15-minute EdDSA access token with the required claims', async () => {
      const email = freshEmail();
      const res = await callSignUp(email);
      expect(res.user?.name).toMatch(/^users\/[0-9a-f-]{36}$/);
      expect(res.user?.email).toBe(email);
      expect(res.user?.displayName).toBe('Ada Lovelace');
      expect(res.expiresIn).toBe(900);
      const header = decodeProtectedHeader(res.accessToken);
      expect(header.alg).toBe('EdDSA');
      expect(header.kid).toBeTruthy();
      const claims = decodeJwt(res.accessToken);
      expect(claims.iss).toBe('taskmesh-identity');
      expect(claims.aud).toBe('taskmesh');
      expect(`users/${claims.sub}`).toBe(res.user?.name);
      expect(claims.sid).toBeTruthy();
      expect(claims.jti).toBeTruthy();
      expect(claims.exp! - claims.iat!).toBe(900);
      expect(Buffer.from(res.refreshToken, 'base64url')).toHaveLength(32);
    });

    it('rejects an invalid e-mail with a field violation', async () => {
      const err = await failure(callSignUp('not-an-email'));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(err)).toEqual(['email']);
    });

    it('rejects a password shorter than 10 characters or equal to the e-mail', async () => {
      const short = await failure(callSignUp(freshEmail(), 'short'));
      expect(short.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(short)).toEqual(['password']);
      const email = freshEmail();
      const same = await failure(callSignUp(email, email.toUpperCase()));
      expect(same.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(same)).toEqual(['password']);
    });

    it('treats e-mail addresses case-insensitively: a duplicate in another case is ALREADY_EXISTS', async () => {
      const email = freshEmail();
      await callSignUp(email);
      const err = await failure(callSignUp(email.toUpperCase()));
      expect(err.code).toBe(status.ALREADY_EXISTS);
      expect((await logIn(email.toUpperCase(), PASSWORD)).user?.email).toBe(email);
    });
  });

  describe('log-in', () => {
    it('answers a wrong password and an unknown e-mail with the same error', async () => {
      const email = freshEmail();
      await callSignUp(email);
      const wrong = await failure(logIn(email, 'wrong password!'));
      const unknown = await failure(logIn(freshEmail(), PASSWORD));
      expect(wrong.code).toBe(status.UNAUTHENTICATED);
      expect(unknown.code).toBe(status.UNAUTHENTICATED);
      expect(wrong.details).toBe(unknown.details);
      expect(reasonOf(wrong)).toBe(reasonOf(unknown));
    });

    it('delays the (account, address) pair after its free failures, with RetryInfo, but not the owner elsewhere', async () => {
      const email = freshEmail();
      await callSignUp(email);
      const address = freshAddress();
      for (let i = 0; i < 3; i++) expect((await failure(logIn(email, 'wrong password!', address))).code).toBe(status.UNAUTHENTICATED);
      const err = await failure(logIn(email, PASSWORD, address));
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(reasonOf(err)).toBe('LOGIN_THROTTLED');
      expect(retryDelayOf(err)).toBeGreaterThan(0);
      // No lockout: the same account from another address gets in at once.
      expect((await logIn(email, PASSWORD, freshAddress())).accessToken).toBeTruthy();
    });

    it('grows the delay with every failure past the free ones', async () => {
      const email = freshEmail();
      const address = freshAddress();
      for (let i = 0; i < 3; i++) await failure(logIn(email, 'wrong password!', address));
      const first = retryDelayOf(await failure(logIn(email, PASSWORD, address))) ?? 0;
      // Let the delay pass (remove the block as time would), fail again: the next delay is twice as long.
      await running.db.em.fork().getConnection().execute(`delete from login_limits where key like 'pair-delay:%'`);
      await failure(logIn(email, 'wrong password!', address));
      const second = retryDelayOf(await failure(logIn(email, PASSWORD, address)));
      expect(first).toBeGreaterThan(25);
      expect(second).toBeGreaterThan(first + 20);
    });

    it('a successful log-in resets its pair', async () => {
      const email = freshEmail();
      await callSignUp(email);
      const address = freshAddress();
      for (let i = 0; i < 2; i++) await failure(logIn(email, 'wrong password!', address));
      await logIn(email, PASSWORD, address);
      // Two more failures stay free: the count started again.
      for (let i = 0; i < 2; i++) expect((await failure(logIn(email, 'wrong password!', address))).code).toBe(status.UNAUTHENTICATED);
      expect((await logIn(email, PASSWORD, address)).accessToken).toBeTruthy();
    });

    it('slows strangers past the per-account ceiling, while the owner with a device token still gets in', async () => {
      const email = freshEmail();
      const { deviceToken } = await callSignUp(email);
      expect(deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // A spray from many addresses: each pair stays under its free failures, the account passes its ceiling.
      for (let i = 0; i < 8; i++) await failure(logIn(email, 'wrong password!', freshAddress()));
      const stranger = await failure(logIn(email, PASSWORD, freshAddress()));
      expect(stranger.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(retryDelayOf(stranger)).toBeGreaterThan(0);
      const owner = await logIn(email, PASSWORD, freshAddress(), deviceToken);
      expect(owner.accessToken).toBeTruthy();
      expect(owner.deviceToken).toBe(deviceToken);
      // Another account's device token proves nothing here.
      const other = await callSignUp();
      expect((await failure(logIn(email, PASSWORD, freshAddress(), other.deviceToken))).code).toBe(status.RESOURCE_EXHAUSTED);
    });

    it('limits failures per address (all accounts) at a ceiling an office does not reach by logging in', async () => {
      const address = freshAddress();
      // An office: many successful log-ins from one address count for nothing.
      const colleagues = await Promise.all([callSignUp(), callSignUp(), callSignUp()]);
      for (let round = 0; round < 5; round++) {
        for (const c of colleagues) expect((await logIn(c.user!.email, PASSWORD, address)).accessToken).toBeTruthy();
      }
      for (let i = 0; i < 12; i++) await failure(logIn(freshEmail(), PASSWORD, address));
      const err = await failure(logIn(colleagues[0]!.user!.email, PASSWORD, address));
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(retryDelayOf(err)).toBeGreaterThan(0);
    });
  });

  describe('refresh tokens', () => {
    it('rotates: the new token works once, and the old one is spent', async () => {
      const first = await callSignUp();
      const second = await call(client.refresh, { refreshToken: first.refreshToken });
      expect(second.refreshToken).not.toBe(first.refreshToken);
      expect(decodeJwt(second.accessToken).sid).toBe(decodeJwt(first.accessToken).sid);
      const third = await call(client.refresh, { refreshToken: second.refreshToken });
      expect(third.accessToken).toBeTruthy();
    });

    it('revokes the whole session when a spent token is presented again (reuse detection)', async () => {
      const first = await callSignUp();
      const second = await call(client.refresh, { refreshToken: first.refreshToken });
      const reuse = await failure(call(client.refresh, { refreshToken: first.refreshToken }));
      expect(reuse.code).toBe(status.UNAUTHENTICATED);
      // The legitimate holder's newer token died with the session.
      expect((await failure(call(client.refresh, { refreshToken: second.refreshToken }))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(call(client.getCurrentUser, {}, bearer(second.accessToken)))).code).toBe(status.UNAUTHENTICATED);
    });

    it('lets exactly one of two concurrent refreshes with the same token win', async () => {
      const first = await callSignUp();
      const results = await Promise.allSettled([
        call(client.refresh, { refreshToken: first.refreshToken }),
        call(client.refresh, { refreshToken: first.refreshToken }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });

    it('rejects unknown tokens and ends the session on log-out', async () => {
      expect((await failure(call(client.refresh, { refreshToken: 'x'.repeat(43) }))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(call(client.refresh, { refreshToken: '' }))).code).toBe(status.INVALID_ARGUMENT);
      const session = await callSignUp();
      await call(client.logOut, { refreshToken: session.refreshToken });
      expect((await failure(call(client.refresh, { refreshToken: session.refreshToken }))).code).toBe(status.UNAUTHENTICATED);
    });
  });

  describe('access tokens', () => {
    it('authenticates GetCurrentUser and rejects a missing token', async () => {
      const session = await callSignUp();
      const me = await call(client.getCurrentUser, {}, bearer(session.accessToken));
      expect(me.user?.name).toBe(session.user?.name);
      expect((await failure(call(client.getCurrentUser, {}))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(call(client.getCurrentUser, {}, bearer('garbage')))).code).toBe(status.UNAUTHENTICATED);
    });

    it('rejects expired, forged, alg:none and wrong-audience tokens', async () => {
      const session = await callSignUp();
      const claims = decodeJwt(session.accessToken);
      const kid = decodeProtectedHeader(session.accessToken).kid!;
      const record = await running.db.em.fork().findOneOrFail(SigningKeyRecord, { kid });
      const realKey = await importJWK(running.keyRing.openJwk(record.privateKeySealed!, kid), 'EdDSA');
      const base = () =>
        new SignJWT({ sid: claims.sid })
          .setIssuer('taskmesh-identity')
          .setSubject(claims.sub!)
          .setJti('test')
          .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' });

      const expired = await base().setAudience('taskmesh').setIssuedAt(Math.floor(Date.now() / 1000) - 3600).setExpirationTime(Math.floor(Date.now() / 1000) - 1800).sign(realKey);
      const wrongAudience = await base().setAudience('someone-else').setIssuedAt().setExpirationTime('5m').sign(realKey);
      const { privateKey: otherKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const forged = await base().setAudience('taskmesh').setIssuedAt().setExpirationTime('5m').sign(otherKey);
      const unsignedPayload = Buffer.from(JSON.stringify({ ...claims, exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
      const algNone = `${Buffer.from(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' })).toString('base64url')}.${unsignedPayload}.`;
      const valid = await base().setAudience('taskmesh').setIssuedAt().setExpirationTime('5m').sign(realKey);

      expect((await call(client.getCurrentUser, {}, bearer(valid))).user?.name).toBe(session.user?.name);
      for (const token of [expired, wrongAudience, forged, algNone]) {
        const err = await failure(call(client.getCurrentUser, {}, bearer(token)));
        expect(err.code).toBe(status.UNAUTHENTICATED);
      }
      expect(reasonOf(await failure(call(client.getCurrentUser, {}, bearer(expired))))).toBe('TOKEN_EXPIRED');
      void exportJWK;
    });

    it('publishes public keys only, and rotation keeps existing tokens valid', async () => {
      const before = await callSignUp();
      const jwks = await call(client.getJwks, {});
      expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
      for (const key of jwks.keys) {
        expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
        expect(key).not.toHaveProperty('d');
      }
      const newKid = await running.keys.rotate();
      const after = await logIn(before.user!.email, PASSWORD);
      expect(decodeProtectedHeader(after.accessToken).kid).toBe(newKid);
      expect(decodeProtectedHeader(before.accessToken).kid).not.toBe(newKid);
      // Old and new tokens both verify: nobody is logged out by a rotation.
      expect((await call(client.getCurrentUser, {}, bearer(before.accessToken))).user?.name).toBe(before.user?.name);
      expect((await call(client.getCurrentUser, {}, bearer(after.accessToken))).user?.name).toBe(before.user?.name);
      const kids = (await call(client.getJwks, {})).keys.map((k) => k.kid);
      expect(kids).toContain(newKid);
      expect(kids).toContain(decodeProtectedHeader(before.accessToken).kid);
    });
  });

  describe('profile', () => {
    it('updates the display name, and refuses other fields in the mask', async () => {
      const session = await callSignUp();
      const updated = await call(
        client.updateCurrentUser,
        { user: { name: '', email: '', displayName: 'Grace Hopper' }, updateMask: ['display_name'] },
        bearer(session.accessToken),
      );
      expect(updated.user?.displayName).toBe('Grace Hopper');
      const err = await failure(
        call(client.updateCurrentUser, { user: { name: '', email: 'x@example.com', displayName: '' }, updateMask: ['email'] }, bearer(session.accessToken)),
      );
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(err)).toEqual(['update_mask']);
    });

    it('looks users up in batch for other services', async () => {
      const a = await callSignUp();
      const b = await callSignUp();
      const res = await call(client.batchGetUsers, { names: [b.user!.name, a.user!.name, 'users/00000000-0000-0000-0000-000000000000'] });
      expect(res.users.map((u) => u.name)).toEqual([b.user!.name, a.user!.name]);
    });
  });

  describe('password reset', () => {
    it('mails a single-use token; resetting revokes every session and the new password works', async () => {
      const email = freshEmail();
      const session = await callSignUp(email);
      await call(client.requestPasswordReset, { email: email.toUpperCase() });
      const token = resetTokenIn(await waitForMail(email));
      expect(token).toBeDefined();
      await call(client.resetPassword, { token: token!, newPassword: 'a brand new secret' });
      expect((await failure(call(client.refresh, { refreshToken: session.refreshToken }))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(call(client.getCurrentUser, {}, bearer(session.accessToken)))).code).toBe(status.UNAUTHENTICATED);
      expect((await failure(logIn(email, PASSWORD))).code).toBe(status.UNAUTHENTICATED);
      expect((await logIn(email, 'a brand new secret')).accessToken).toBeTruthy();
      const reuse = await failure(call(client.resetPassword, { token: token!, newPassword: 'yet another secret' }));
      expect(reuse.code).toBe(status.INVALID_ARGUMENT);
      expect(violationsOf(reuse)).toEqual(['token']);
    });

    it('answers the same for an unknown e-mail and sends nothing', async () => {
      const email = freshEmail();
      await expect(call(client.requestPasswordReset, { email })).resolves.toEqual({});
      await new Promise((r) => setTimeout(r, 200));
      expect(mailsTo(email)).toHaveLength(0);
    });

    it('sends at most RESET_MAX_PER_EMAIL mails an hour to one address, answering {} all the same', async () => {
      const email = freshEmail();
      await callSignUp(email);
      for (let i = 0; i < 5; i++) {
        await expect(call(client.requestPasswordReset, { email }, fromAddress(freshAddress()))).resolves.toEqual({});
      }
      await waitForMail(email, 3);
      await new Promise((r) => setTimeout(r, 300));
      expect(mailsTo(email)).toHaveLength(3);
    });

    it('refuses an expired token', async () => {
      const email = freshEmail();
      await callSignUp(email);
      await call(client.requestPasswordReset, { email });
      const token = resetTokenIn(await waitForMail(email))!;
      await running.db.em.fork().getConnection().execute(`update password_resets set expires_at = now() - interval '1 minute'`);
      const err = await failure(call(client.resetPassword, { token, newPassword: 'a brand new secret' }));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
    });
  });
});
