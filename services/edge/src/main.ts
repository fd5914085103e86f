// Standalone edge: telemetry first (trace context in and out, metrics endpoint), then configuration from the
// environment (see edge-config.ts), graceful stop on SIGTERM (in-flight requests get SHUTDOWN_GRACE_SECONDS,
// then the process exits, by force if need be).
import { shutdownTelemetry, startTelemetry } from '@taskmesh/runtime/telemetry';

await startTelemetry({ serviceName: 'edge' });
const [{ startEdge }, { readEdgeConfig }, { createLogger }, { onShutdownSignal, shutdownGraceMs }] = await Promise.all([
  import('./edge.ts'),
  import('./edge-config.ts'),
  import('@taskmesh/runtime/logger'),
  import('@taskmesh/runtime/shutdown'),
]);
const config = readEdgeConfig(process.env);
const edge = await startEdge(config);
process.stdout.write(`${JSON.stringify({ log: 'edge', msg: 'listening', url: edge.url, upstreams: config.upstreams })}\n`);
onShutdownSignal(async () => {
  await edge.close(shutdownGraceMs());
  await shutdownTelemetry();
}, createLogger('edge'));
