// Re-seals every signing private key under a new key-encryption key: `npm run identity:rotate-kek` with
// TASKMESH_KEK=<new> and TASKMESH_KEK_PREVIOUS=<old> (the procedure is in services/identity/README.md).
// Rows already under the new KEK are left alone, so running it twice is harmless.
import { ConfigError } from '@taskmesh/runtime/config';
import { loadIdentityConfig } from './config.ts';
import { openKeyAdminDatabase } from './key-admin-database.ts';
import { loadKeyRing } from './domain/key-encryption.ts';
import { sealSigningKeys } from './db/signing-key-sealing.ts';

const config = loadIdentityConfig();
if (!config.TASKMESH_KEK || !config.TASKMESH_KEK_PREVIOUS) {
  throw new ConfigError('set TASKMESH_KEK to the new key-encryption key and TASKMESH_KEK_PREVIOUS to the one the keys are sealed with now');
}
const ring = loadKeyRing(config, { dataDirFallback: false });
const db = await openKeyAdminDatabase(config);
try {
  const changed = await sealSigningKeys(db.em, ring, { resealAll: true });
  process.stdout.write(`re-sealed ${changed} signing key(s) under key-encryption key ${ring.current.id}\n`);
} finally {
  await db.close();
}
