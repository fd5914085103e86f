import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';
import { loadShareConfig } from './config.ts';
import { startShare } from './server.ts';

/** The share service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('share');
  const config = loadShareConfig();
  warnWhenEventsStayInProcess(config, log, 'share');
  const running = await startShare({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
