import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadAttachmentConfig } from './config.ts';
import { startAttachment } from './server.ts';

/** The attachment service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('attachment');
  const config = loadAttachmentConfig();
  warnWhenEventsStayInProcess(config, log, 'attachment');
  const running = await startAttachment({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
