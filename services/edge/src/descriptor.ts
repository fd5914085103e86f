import type { FrontDescriptor } from '@taskmesh/runtime/stack';
import { startEdge } from './edge.ts';
import { readEdgeConfig } from './edge-config.ts';

/**
 * The REST edge in front of a stack: configured as the standalone edge (edge-config.ts), except that it listens
 * on loopback unless EDGE_HOST says otherwise and routes to the services the stack started.
 */
export const edgeFront: FrontDescriptor = {
  name: 'edge',
  entryPoint: 'services/edge/src/main.ts',
  start: ({ env, upstreams }) => startEdge({ ...readEdgeConfig({ ...env, EDGE_HOST: env.EDGE_HOST || '127.0.0.1' }), upstreams }),
};
