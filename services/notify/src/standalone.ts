import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadNotifyConfig } from './config.ts';
import { startNotify } from './server.ts';

/** The notify service alone, configured from the environment (how Kubernetes runs it, with NATS_URL). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('notify');
  const running = await startNotify({ config: loadNotifyConfig(), log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
