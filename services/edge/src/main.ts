import { createLogger } from '@taskmesh/runtime/logger';
import { onShutdownSignal, shutdownGraceMs } from '@taskmesh/runtime/shutdown';
import { startEdge } from './edge.ts';
import { readEdgeConfig } from './edge-config.ts';

// Standalone edge: configuration from the environment (see edge-config.ts), graceful stop on SIGTERM
// (in-flight requests get SHUTDOWN_GRACE_SECONDS, then the process exits, by force if need be).
const config = readEdgeConfig(process.env);
const edge = await startEdge(config);
process.stdout.write(`${JSON.stringify({ log: 'edge', msg: 'listening', url: edge.url, upstreams: config.upstreams })}\n`);
onShutdownSignal(() => edge.close(shutdownGraceMs()), createLogger('edge'));
