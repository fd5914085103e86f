import { ConfigError } from '@taskmesh/runtime/config';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadAnalyticsConfig } from './config.ts';
import { startAnalytics } from './server.ts';

/** The analytics service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('analytics');
  const config = loadAnalyticsConfig();
  // Alone in its process, an in-process bus would never carry an event here: every counter would stay 0.
  if (!config.NATS_URL) throw new ConfigError('invalid configuration: NATS_URL: required when the analytics service runs on its own');
  const running = await startAnalytics({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
