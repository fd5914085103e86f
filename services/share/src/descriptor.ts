import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadShareConfig } from './config.ts';
import { shareMigrations } from './db/migrations/index.ts';
import { SHARE_SERVICE_NAME, startShare, type RunningShare } from './server.ts';

/** The share service as the stack builder composes it (npm start, tests, bench). */
export const shareService: ServiceDescriptor<RunningShare> = {
  name: 'share',
  grpcService: SHARE_SERVICE_NAME,
  defaultPort: 50058,
  entryPoint: 'services/share/src/main.ts',
  migrations: shareMigrations,
  start: ({ env, log, bus }) => startShare({ config: loadShareConfig(env), log, bus }),
};
