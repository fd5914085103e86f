import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadIdentityConfig } from './config.ts';
import { startIdentity } from './server.ts';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';

/** The identity service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('identity');
  const config = loadIdentityConfig();
  warnWhenEventsStayInProcess(config, log, 'identity');
  const running = await startIdentity({ config, log, requireKekFromEnvironment: true });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
