import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadTaskConfig } from './config.ts';
import { startTask } from './server.ts';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';

/** The task service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('task');
  const config = loadTaskConfig();
  warnWhenEventsStayInProcess(config, log, 'task');
  const running = await startTask({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
