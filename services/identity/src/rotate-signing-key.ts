// Rotates the access-token signing key: `npm run identity:rotate-key` (same environment as the service).
// Tokens signed with the previous key keep verifying until they expire, so nobody is logged out.
import { loadIdentityConfig } from './config.ts';
import { openKeyAdminDatabase } from './key-admin-database.ts';
import { loadKeyRing } from './domain/key-encryption.ts';
import { SigningKeys } from './db/signing-keys.ts';

const config = loadIdentityConfig();
// Same KEK as the service: TASKMESH_KEK, or the embedded data dir's when it is unset.
const ring = loadKeyRing(config, { dataDirFallback: true });
const db = await openKeyAdminDatabase(config);
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
