import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';
import { loadWebhookConfig } from './config.ts';
import { startWebhook } from './server.ts';

/** The webhook service alone, configured from the environment (how Kubernetes runs it); TASKMESH_KEK is required. */
export async function runStandalone(): Promise<void> {
  const log = createLogger('webhook');
  const config = loadWebhookConfig();
  warnWhenEventsStayInProcess(config, log, 'webhook');
  const running = await startWebhook({ config, log, kekFromDataDir: false });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
