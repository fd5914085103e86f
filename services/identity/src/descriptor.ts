import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadIdentityConfig } from './config.ts';
import { identityMigrations } from './db/migrations/index.ts';
import { IDENTITY_SERVICE_NAME, startIdentity, type IdentityDeps, type RunningIdentity } from './server.ts';

/** The identity service as the stack builder composes it (npm start, tests, bench). */
export const identityService: ServiceDescriptor<RunningIdentity> = {
  name: 'identity',
  grpcService: IDENTITY_SERVICE_NAME,
  defaultPort: 50051,
  entryPoint: 'services/identity/src/main.ts',
  migrations: identityMigrations,
  start: ({ env, log, bus, inject }) => startIdentity({ config: loadIdentityConfig(env), log, bus, ...(inject as Partial<IdentityDeps>) }),
};
