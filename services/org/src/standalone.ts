import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadOrgConfig } from './config.ts';
import { startOrg } from './server.ts';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';

/** The org service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('org');
  const config = loadOrgConfig();
  warnWhenEventsStayInProcess(config, log, 'org');
  const running = await startOrg({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
