// Compares the time a failed log-in takes for an unknown e-mail and for a known e-mail with a wrong
// password: they should be indistinguishable (both run one argon2id verification). Prints figures; asserts nothing.
// Usage: npm run bench:login  (PostgreSQL at TEST_DATABASE_URL/the local server when it answers, else an embedded one)
import { credentials, Metadata } from '@grpc/grpc-js';
import pino from 'pino';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, testPostgres } from '@taskmesh/runtime/testing/test-database';
import { identityConfigSchema } from '../src/config.ts';
import { startIdentity } from '../src/server.ts';

const rounds = Number(process.env.ROUNDS ?? 40);
const postgres = await testPostgres();
const db = await createTestDatabase();
const config = identityConfigSchema.parse({
  DATABASE_URL: db.databaseUrl,
  TASKMESH_DATA_DIR: db.dataDir,
  IDENTITY_PORT: '0',
  LOGIN_MAX_FAILURES_PER_ACCOUNT: '1000000',
  LOGIN_MAX_FAILURES_PER_ADDRESS: '1000000',
  LOGIN_FREE_FAILURES_PER_PAIR: '1000000',
});
const identity = await startIdentity({ config, log: pino({ level: 'silent' }) });
const client = new IdentityServiceClient(identity.grpc.address, credentials.createInsecure());
await callUnary(client, client.signUp, { email: 'known@example.com', password: 'correct horse battery', displayName: 'K' });

async function timeFailure(email: string): Promise<number> {
  const md = new Metadata();
  md.set('x-forwarded-for', '192.0.2.1');
  const start = process.hrtime.bigint();
  await callUnary(client, client.logIn, { email, password: 'not the password', deviceToken: '' }, { metadata: md }).catch(() => undefined);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const known: number[] = [];
const unknown: number[] = [];
for (let i = 0; i < rounds; i++) {
  // Interleaved, so drift on the machine affects both series alike.
  known.push(await timeFailure('known@example.com'));
  unknown.push(await timeFailure(`nobody${i}@example.com`));
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { mean: mean.toFixed(1), p50: s[Math.floor(s.length / 2)]!.toFixed(1), p90: s[Math.floor(s.length * 0.9)]!.toFixed(1) };
};
console.log(`rounds: ${rounds}`);
console.log('wrong password (ms):', stats(known));
console.log('unknown e-mail (ms):', stats(unknown));
client.close();
await identity.close();
await db.drop();
await postgres.stop();
