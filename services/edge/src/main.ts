// Standalone edge: telemetry first (trace context in and out, metrics endpoint), then configuration from the
// environment (see edge-config.ts), graceful stop on SIGTERM.
import { shutdownTelemetry, startTelemetry } from '@taskmesh/runtime/telemetry';

await startTelemetry({ serviceName: 'edge' });
const [{ startEdge }, { readEdgeConfig }] = await Promise.all([import('./edge.ts'), import('./edge-config.ts')]);
const config = readEdgeConfig(process.env);
const edge = await startEdge(config);
process.stdout.write(`${JSON.stringify({ log: 'edge', msg: 'listening', url: edge.url, upstreams: config.upstreams })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    edge
      .close()
      .then(() => shutdownTelemetry())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}
