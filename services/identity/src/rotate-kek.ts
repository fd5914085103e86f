// Re-seals every signing private key under a new key-encryption key: `npm run identity:rotate-kek` with
// TASKMESH_KEK=<new> and TASKMESH_KEK_PREVIOUS=<old> (the procedure is in services/identity/README.md).
// Rows already under the new KEK are left alone, so running it twice is harmless.
import pino from 'pino';
import { ConfigError } from '@taskmesh/runtime/config';
import { openDatabase } from '@taskmesh/runtime/database';
import { loadIdentityConfig } from './config.ts';
import { SigningKeyRecord } from './db/entities.ts';
import { identityMigrations } from './db/migrations/0001-initial.ts';
import { loadKeyRing } from './key-encryption.ts';
import { sealSigningKeys } from './signing-key-sealing.ts';

const config = loadIdentityConfig();
if (!config.TASKMESH_KEK || !config.TASKMESH_KEK_PREVIOUS) {
  throw new ConfigError('set TASKMESH_KEK to the new key-encryption key and TASKMESH_KEK_PREVIOUS to the one the keys are sealed with now');
}
const ring = loadKeyRing(config, { dataDirFallback: false });
const db = await openDatabase({
  service: 'identity',
  entities: [SigningKeyRecord],
  migrations: identityMigrations,
  databaseUrl: config.DATABASE_URL,
  dataDir: config.TASKMESH_DATA_DIR,
  log: pino({ level: 'warn' }),
});
try {
  const changed = await sealSigningKeys(db.em, ring, { resealAll: true });
  process.stdout.write(`re-sealed ${changed} signing key(s) under key-encryption key ${ring.current.id}\n`);
} finally {
  await db.close();
}
