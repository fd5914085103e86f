// Platform administrators: `npm run admin:grant -- <email>` and `npm run admin:revoke -- <email>`, against
// identity's DATABASE_URL (in a cluster: `kubectl exec deploy/identity -- node dist/services/identity/admin.js grant <email>`).
// Addresses in PLATFORM_ADMIN_EMAILS are administrators whatever the table says.
import pino from 'pino';
import { ConfigError } from '@taskmesh/runtime/config';
import { openDatabase } from '@taskmesh/runtime/database';
import { databaseTimeouts } from '@taskmesh/runtime/database-timeouts';
import { InvalidArgumentError } from '@taskmesh/runtime/errors';
import { loadIdentityConfig } from './config.ts';
import { PlatformAdminRecord, UserRecord } from './db/entities.ts';
import { identityMigrations } from './db/migrations/index.ts';
import { PlatformAdmins } from './db/platform-admins.ts';

const usage = 'usage: admin grant <email> | admin revoke <email>';

export async function runPlatformAdminCommand(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  const [command, email, ...rest] = argv;
  if (!command || !['grant', 'revoke'].includes(command) || !email || rest.length > 0) {
    out(usage);
    return 2;
  }
  const config = loadIdentityConfig(env);
  const db = await openDatabase({
    service: 'identity',
    entities: [UserRecord, PlatformAdminRecord],
    migrations: identityMigrations,
    databaseUrl: config.DATABASE_URL,
    timeouts: databaseTimeouts(config),
    log: pino({ level: 'warn' }),
  });
  try {
    const admins = new PlatformAdmins(db.em, config.PLATFORM_ADMIN_EMAILS);
    if (command === 'grant') {
      out((await admins.grant(email)) ? `granted platform administration to ${email}` : `${email} was already a platform administrator`);
    } else {
      out((await admins.revoke(email)) ? `revoked platform administration of ${email}` : `${email} had no grant`);
      if (admins.isConfigured(email)) out(`${email} stays an administrator: it is in PLATFORM_ADMIN_EMAILS`);
    }
    return 0;
  } catch (err) {
    if (!(err instanceof InvalidArgumentError)) throw err;
    out(`${email}: not a valid e-mail address`);
    return 2;
  } finally {
    await db.close();
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await runPlatformAdminCommand(process.argv.slice(2), process.env, (text) => process.stdout.write(`${text}\n`));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`admin: ${err.message}\n`);
    process.exitCode = 1;
  }
}
