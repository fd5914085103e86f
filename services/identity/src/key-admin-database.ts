import pino from 'pino';
import { openDatabase, type Database } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import type { IdentityConfig } from './config.ts';
import { SigningKeyRecord } from './db/entities.ts';
import { identityMigrations } from './db/migrations/index.ts';

/** Identity's database as the key scripts (rotate-key, rotate-kek) need it: migrated, signing keys only. */
export function openKeyAdminDatabase(config: IdentityConfig): Promise<Database> {
  return openDatabase({
    service: 'identity',
    entities: [SigningKeyRecord],
    migrations: identityMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log: pino({ level: 'warn' }),
  });
}
