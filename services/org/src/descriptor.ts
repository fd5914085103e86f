import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadOrgConfig } from './config.ts';
import { orgMigrations } from './db/migrations/index.ts';
import { ADMIN_SERVICE_NAME, ORG_SERVICE_NAME, startOrg, type OrgDeps, type RunningOrg } from './server.ts';

/** The org service as the stack builder composes it (npm start, tests, bench). */
export const orgService: ServiceDescriptor<RunningOrg> = {
  name: 'org',
  grpcService: ORG_SERVICE_NAME,
  moreGrpcServices: [ADMIN_SERVICE_NAME],
  defaultPort: 50052,
  entryPoint: 'services/org/src/main.ts',
  migrations: orgMigrations,
  start: ({ env, log, bus, inject }) => startOrg({ config: loadOrgConfig(env), log, bus, ...(inject as Partial<OrgDeps>) }),
};
