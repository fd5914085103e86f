// The KEK rotation's re-seal (step 3 of "Rotating the KEK" in services/identity/README.md): `npm run rotate-kek`
// with TASKMESH_KEK=<new> and TASKMESH_KEK_PREVIOUS=<old>, or in a cluster
// `kubectl -n taskmesh exec deploy/identity -- node dist/services/identity/rotate-kek.js`. Re-seals everything
// sealed under the KEK: identity's signing private keys, then every webhook endpoint's current and previous
// signing secret in every org (the webhook schema of the same DATABASE_URL). Rows already under the new KEK
// are left alone, so running it twice is harmless. Exits 1 when a value opens under neither KEK.
// Without DATABASE_URL: the embedded database of $TASKMESH_DATA_DIR (`npm start` stopped first).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { ConfigError } from '@taskmesh/runtime/config';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '@taskmesh/runtime/embedded-postgres';
import { resealWebhookSecretsAt } from '@taskmesh/webhook/kek-reseal';
import { loadIdentityConfig } from './config.ts';
import { openKeyAdminDatabase } from './key-admin-database.ts';
import { loadKeyRing } from './domain/key-encryption.ts';
import { sealSigningKeys } from './db/signing-key-sealing.ts';

const log = pino({ level: 'warn' });

/** The embedded cluster of `npm start`, started for this command; refused while `npm start` has it running. */
async function embeddedDatabase(dataDir: string): Promise<EmbeddedPostgres> {
  const pgdata = join(dataDir, 'postgres');
  if (!existsSync(join(pgdata, 'PG_VERSION'))) throw new ConfigError(`DATABASE_URL is unset and ${pgdata} holds no embedded database: set DATABASE_URL`);
  const pidFile = join(pgdata, 'postmaster.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
  if (pid > 0 && isAlive(pid)) throw new ConfigError(`the embedded PostgreSQL in ${pgdata} is running (pid ${pid}): stop \`npm start\` first`);
  return startEmbeddedPostgres({ dataDir, maxConnections: 10, log });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const config = loadIdentityConfig();
if (!config.TASKMESH_KEK || !config.TASKMESH_KEK_PREVIOUS) {
  throw new ConfigError('set TASKMESH_KEK to the new key-encryption key and TASKMESH_KEK_PREVIOUS to the one the keys are sealed with now');
}
const ring = loadKeyRing(config, { dataDirFallback: false });
const embedded = config.DATABASE_URL ? undefined : await embeddedDatabase(config.TASKMESH_DATA_DIR);
const url = config.DATABASE_URL ?? embedded!.url;
let webhooks;
try {
  const db = await openKeyAdminDatabase({ ...config, DATABASE_URL: url });
  try {
    const changed = await sealSigningKeys(db.em, ring, { resealAll: true });
    process.stdout.write(`re-sealed ${changed} signing key(s) under key-encryption key ${ring.current.id}\n`);
  } finally {
    await db.close();
  }
  webhooks = await resealWebhookSecretsAt({ url, timeouts: databaseTimeouts(config), log }, ring);
} finally {
  await embedded?.stop();
}
process.stdout.write(`re-sealed ${webhooks.secrets} webhook signing secret(s) of ${webhooks.endpoints} endpoint(s) under key-encryption key ${ring.current.id}\n`);
if (webhooks.unopenable.length > 0) {
  for (const name of webhooks.unopenable) process.stderr.write(`${name}: a signing secret opens under neither TASKMESH_KEK nor TASKMESH_KEK_PREVIOUS; left as it is\n`);
  process.exitCode = 1;
}
