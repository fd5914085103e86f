import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { failure, retryDelayOf } from '@taskmesh/runtime/testing/grpc-assertions';
import { startTestStack, type TestStack } from '@taskmesh/runtime/testing/test-stack';
import { delaySeconds } from '../src/db/abuse-limits.ts';
import { identityService } from '../src/descriptor.ts';

let stack: TestStack;
let client: IdentityServiceClient;

const fromAddress = (address: string) => {
  const md = new Metadata();
  md.set('x-forwarded-for', address);
  return md;
};
let n = 0;
const freshEmail = () => `abuse${++n}-${Date.now()}@example.com`;

beforeAll(async () => {
  stack = await startTestStack({ services: [identityService], overrides: { SIGNUP_MAX_PER_ADDRESS: '3', RESET_MAX_PER_ADDRESS: '4' } });
  client = stack.clientOf(IdentityServiceClient);
});

afterAll(async () => {
  await stack?.close();
});

describe('abuse limits', () => {
  it('delays grow by doubling up to their ceiling', () => {
    expect([0, 1, 2, 3].map((n) => delaySeconds(n, 1, 900))).toEqual([1, 2, 4, 8]);
    expect(delaySeconds(20, 1, 900)).toBe(900);
    expect(delaySeconds(1000, 1, 60)).toBe(60);
  });

  it('throttles sign-ups per address (SIGNUP_MAX_PER_ADDRESS) with RESOURCE_EXHAUSTED and RetryInfo', async () => {
    const address = '198.51.100.200';
    const signUp = () => callUnary(client, client.signUp, { email: freshEmail(), password: 'correct horse battery', displayName: '' }, { metadata: fromAddress(address) });
    for (let i = 0; i < 3; i++) expect((await signUp()).accessToken).toBeTruthy();
    const err = await failure(signUp());
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(retryDelayOf(err)).toBeGreaterThan(0);
    // Another address is not affected.
    const other = await callUnary(client, client.signUp, { email: freshEmail(), password: 'correct horse battery', displayName: '' }, { metadata: fromAddress('198.51.100.201') });
    expect(other.accessToken).toBeTruthy();
  });

  it('throttles password-reset requests per address whether or not the accounts exist', async () => {
    const address = '198.51.100.210';
    const request = () => callUnary(client, client.requestPasswordReset, { email: freshEmail() }, { metadata: fromAddress(address) });
    for (let i = 0; i < 4; i++) await expect(request()).resolves.toEqual({});
    const err = await failure(request());
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(retryDelayOf(err)).toBeGreaterThan(0);
  });
});
