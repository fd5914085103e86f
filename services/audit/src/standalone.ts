import { ConfigError } from '@taskmesh/runtime/config';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadAuditConfig } from './config.ts';
import { startAudit } from './server.ts';

/** The audit service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('audit');
  const config = loadAuditConfig();
  // Alone in its process, an in-process bus would never carry an event here: the log would stay empty.
  if (!config.NATS_URL) throw new ConfigError('invalid configuration: NATS_URL: required when the audit service runs on its own');
  const running = await startAudit({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
