import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { loadBoardConfig } from './config.ts';
import { startBoard } from './server.ts';
import { warnWhenEventsStayInProcess } from '@taskmesh/runtime/events/create-event-bus';

/** The board service alone, configured from the environment (how Kubernetes runs it). */
export async function runStandalone(): Promise<void> {
  const log = createLogger('board');
  const config = loadBoardConfig();
  warnWhenEventsStayInProcess(config, log, 'board');
  const running = await startBoard({ config, log });
  onShutdownSignal(async () => {
    await running.close();
    await shutdownTelemetry();
  }, log);
}
