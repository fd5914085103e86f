import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadAuditConfig } from './config.ts';
import { auditMigrations } from './db/migrations/index.ts';
import { AUDIT_SERVICE_NAME, startAudit, type AuditDeps, type RunningAudit } from './server.ts';

/** The audit service as the stack builder composes it (npm start, tests, bench). */
export const auditService: ServiceDescriptor<RunningAudit> = {
  name: 'audit',
  grpcService: AUDIT_SERVICE_NAME,
  defaultPort: 50055,
  entryPoint: 'services/audit/src/main.ts',
  migrations: auditMigrations,
  start: ({ env, log, bus, inject }) => startAudit({ config: loadAuditConfig(env), log, bus, ...(inject as Partial<AuditDeps>) }),
};
