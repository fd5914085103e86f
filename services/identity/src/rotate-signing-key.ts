// Rotates the access-token signing key: `npm run identity:rotate-key` (same environment as the service).
// Tokens signed with the previous key keep verifying until they expire, so nobody is logged out.
import pino from 'pino';
import { openDatabase } from '@taskmesh/runtime/database';
import { loadIdentityConfig } from './config.ts';
import { SigningKeyRecord } from './db/entities.ts';
import { identityMigrations } from './db/migrations/0001-initial.ts';
import { loadKeyRing } from './key-encryption.ts';
import { SigningKeys } from './signing-keys.ts';

const config = loadIdentityConfig();
// Same KEK as the service: TASKMESH_KEK, or the embedded data dir's when it is unset.
const ring = loadKeyRing(config, { dataDirFallback: true });
const log = pino({ level: 'warn' });
const db = await openDatabase({
  service: 'identity',
  entities: [SigningKeyRecord],
  migrations: identityMigrations,
  databaseUrl: config.DATABASE_URL,
  dataDir: config.TASKMESH_DATA_DIR,
  log,
});
try {
  const keys = new SigningKeys(db.em, ring, {
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
  });
  const kid = await keys.rotate();
  process.stdout.write(`new signing key ${kid}; replicas pick it up within a minute\n`);
} finally {
  await db.close();
}
