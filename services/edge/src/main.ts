import { startEdge } from './edge.ts';
import { readEdgeConfig } from './edge-config.ts';

// Standalone edge: configuration from the environment (see edge-config.ts), graceful stop on SIGTERM.
const config = readEdgeConfig(process.env);
const edge = await startEdge(config);
process.stdout.write(`${JSON.stringify({ log: 'edge', msg: 'listening', url: edge.url, upstreams: config.upstreams })}\n`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    edge.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
