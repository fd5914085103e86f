import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadNotifyConfig } from './config.ts';
import { startNotify } from './server.ts';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';

/** The notify service alone, configured from the environment (how Kubernetes runs it, with NATS_URL). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('notify');
  const config = loadNotifyConfig();
  warnWhenEventsStayInProcess(config, log, 'notify');
  const running = await startNotify({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
