import type { ServiceDescriptor } from '@taskmesh/runtime/stack';
import { loadAttachmentConfig } from './config.ts';
import { attachmentMigrations } from './db/migrations/index.ts';
import { ATTACHMENT_SERVICE_NAME, startAttachment, type AttachmentDeps, type RunningAttachment } from './server.ts';

/** The attachment service as the stack builder composes it (npm start, tests, bench). */
export const attachmentService: ServiceDescriptor<RunningAttachment> = {
  name: 'attachment',
  grpcService: ATTACHMENT_SERVICE_NAME,
  defaultPort: 50059,
  entryPoint: 'services/attachment/src/main.ts',
  migrations: attachmentMigrations,
  start: ({ env, log, bus, inject }) => startAttachment({ config: loadAttachmentConfig(env), log, bus, ...(inject as Partial<AttachmentDeps>) }),
};
