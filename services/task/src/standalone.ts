import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadTaskConfig } from './config.ts';
import { startTask } from './server.ts';

/** The task service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('task');
  const running = await startTask({ config: loadTaskConfig(), log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
