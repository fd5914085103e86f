// `npm start`: the whole system in one process. Telemetry first; everything it instruments is imported after.
import { startTelemetry } from '@taskmesh/runtime/telemetry';
import { startEmbeddedPostgres } from '@taskmesh/runtime/embedded-postgres';
import { createLogger } from '@taskmesh/runtime/logger';

// Without DATABASE_URL, PostgreSQL starts while the services' code loads (embedded-postgres.ts uses nothing
// that telemetry instruments); the stack waits for it before starting the services.
const postgres = process.env.DATABASE_URL
  ? undefined
  : startEmbeddedPostgres({ dataDir: process.env.TASKMESH_DATA_DIR || '.data', maxConnections: 150, log: createLogger('postgres') });
postgres?.catch(() => undefined);
await startTelemetry({ serviceName: 'taskmesh', metricsHost: '127.0.0.1' });
const { runEmbedded } = await import('./stack.ts');
await runEmbedded(postgres ? { postgres } : {});
