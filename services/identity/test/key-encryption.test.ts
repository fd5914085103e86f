import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityServiceClient } from '@taskmesh/gen/taskmesh/identity/v1/identity_service.js';
import { ConfigError } from '@taskmesh/runtime/config';
import { callUnary } from '@taskmesh/runtime/grpc-client';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { identityConfigSchema } from '../src/config.ts';
import { dataDirKek, KeyEncryptionKey, KeyRing, loadKeyRing } from '../src/domain/key-encryption.ts';
import { startIdentity } from '../src/server.ts';

const root = resolve(import.meta.dirname, '../../..');
const log = pino({ level: 'silent' });
const newKek = () => randomBytes(32).toString('base64');

let testDb: TestDatabase;
beforeAll(async () => {
  testDb = await createTestDatabase();
});
afterAll(async () => {
  await testDb?.drop();
});

const start = (kek: Record<string, string>) =>
  startIdentity({
    config: identityConfigSchema.parse({
      DATABASE_URL: testDb.databaseUrl,
      TASKMESH_DATA_DIR: testDb.dataDir,
      IDENTITY_PORT: '0',
      ARGON2_MEMORY_KIB: '1024',
      ARGON2_ITERATIONS: '1',
      ...kek,
    }),
    log,
  });

/** Signs up once against a fresh start with `kek`; the kid of the token it got. */
async function signUpWith(kek: Record<string, string>): Promise<string> {
  const running = await start(kek);
  const client = new IdentityServiceClient(running.grpc.address, credentials.createInsecure());
  try {
    const res = await callUnary(client, client.signUp, {
      email: `kek-${randomBytes(4).toString('hex')}@example.com`,
      password: 'correct horse battery',
      displayName: '',
    });
    return decodeProtectedHeader(res.accessToken).kid!;
  } finally {
    client.close();
    await running.close();
  }
}

async function storedKeys() {
  const running = await start({ TASKMESH_KEK: currentKek });
  try {
    return await running.db.em
      .fork()
      .getConnection()
      .execute<{ kid: string; private_jwk: unknown; private_key_sealed: string | null }[]>('select kid, private_jwk, private_key_sealed from signing_keys');
  } finally {
    await running.close();
  }
}

let currentKek = newKek();

describe('signing keys at rest', () => {
  it('seals plain rows written before sealing at start, and stores no private JWK', async () => {
    // A row as the service wrote it before: the private JWK in the clear.
    const first = await start({ TASKMESH_KEK: currentKek });
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const plain = { ...(await exportJWK(privateKey)), kid: 'legacy', alg: 'EdDSA' };
    await first.db.em
      .fork()
      .getConnection()
      .execute(`insert into signing_keys (kid, private_jwk, public_jwk, created_at, superseded_at) values ('legacy', ?, ?, now() - interval '1 day', now())`, [
        JSON.stringify(plain),
        JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'legacy' }),
      ]);
    await first.close();

    await signUpWith({ TASKMESH_KEK: currentKek });
    const rows = await storedKeys();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) {
      expect(row.private_jwk).toBeNull();
      expect(row.private_key_sealed).toMatch(/^v1\./);
      expect(row.private_key_sealed).not.toContain(plain.d!);
    }
  });

  it('refuses to start with a wrong KEK, naming the KEK the keys need', async () => {
    const needed = KeyEncryptionKey.fromBase64(currentKek, 'TASKMESH_KEK').id;
    await expect(start({ TASKMESH_KEK: newKek() })).rejects.toThrow(`encrypted under key-encryption key ${needed}`);
    await expect(start({ TASKMESH_KEK: 'too short' })).rejects.toThrow(ConfigError);
  });

  it('rotates the KEK with npm run rotate-kek; afterwards only the new KEK is needed', async () => {
    const kid = await signUpWith({ TASKMESH_KEK: currentKek });
    const next = newKek();
    // During the rotation the service runs with both.
    await signUpWith({ TASKMESH_KEK: next, TASKMESH_KEK_PREVIOUS: currentKek });
    const { stdout } = await promisify(execFile)(join(root, 'node_modules/.bin/tsx'), [join(root, 'services/identity/src/rotate-kek.ts')], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: testDb.databaseUrl, TASKMESH_DATA_DIR: testDb.dataDir, TASKMESH_KEK: next, TASKMESH_KEK_PREVIOUS: currentKek },
    });
    expect(stdout).toMatch(/re-sealed [1-9]\d* signing key/);
    currentKek = next;
    expect(await signUpWith({ TASKMESH_KEK: next })).toBe(kid);
    const nextId = KeyEncryptionKey.fromBase64(next, 'TASKMESH_KEK').id;
    for (const row of await storedKeys()) expect(row.private_key_sealed).toContain(`v1.${nextId}.`);
  });
});

describe('the key-encryption key', () => {
  it('embedded default: generated once in the data dir with mode 0600, then reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kek-'));
    try {
      const first = loadKeyRing({ TASKMESH_DATA_DIR: dir }, { dataDirFallback: true });
      expect(statSync(join(dir, 'kek')).mode & 0o777).toBe(0o600);
      expect(dataDirKek(dir).id).toBe(first.current.id);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('standalone: fails fast without TASKMESH_KEK', () => {
    expect(() => loadKeyRing({ TASKMESH_DATA_DIR: '/nonexistent' }, { dataDirFallback: false })).toThrow(/TASKMESH_KEK is required/);
  });

  it('binds a sealed key to its kid and detects tampering', () => {
    const ring = new KeyRing(KeyEncryptionKey.fromBase64(newKek(), 'TASKMESH_KEK'));
    const sealed = ring.sealJwk({ kty: 'OKP', d: 'secret' }, 'k1');
    expect(ring.openJwk(sealed, 'k1')).toEqual({ kty: 'OKP', d: 'secret' });
    expect(() => ring.openJwk(sealed, 'k2')).toThrow(/does not open/);
    const parts = sealed.split('.');
    parts[3] = Buffer.from('tampered!').toString('base64url');
    expect(() => ring.openJwk(parts.join('.'), 'k1')).toThrow(/does not open/);
  });
});
