import { z } from 'zod';
import { commonConfigShape, env, parseConfig } from '@taskmesh/runtime/config';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { startEdge } from '@taskmesh/edge/edge';
import { loadIdentityConfig } from '@taskmesh/identity/config';
import { IDENTITY_SERVICE_NAME, startIdentity } from '@taskmesh/identity/server';

const stackConfigSchema = z.object({
  ...commonConfigShape,
  EDGE_HOST: z.string().default('127.0.0.1'),
  EDGE_PORT: env.port(8080),
  EDGE_ACCESS_LOG: z.enum(['on', 'off']).default('on'),
});

export interface RunningStack {
  /** Base URL of the REST edge. */
  url: string;
  /** gRPC address per service name. */
  services: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts every service in this process, each on its own loopback gRPC port with its own database
 * (embedded PGlite unless DATABASE_URL is set), then the REST edge in front of them.
 * `overrides` replaces environment values (tests use port 0 and a temporary data directory).
 */
export async function startStack(overrides: Record<string, string | undefined> = {}): Promise<RunningStack> {
  const source = { ...process.env, ...overrides };
  const config = parseConfig(stackConfigSchema, source);
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne();
  };
  try {
    const identity = await startIdentity({ config: loadIdentityConfig(source), log: createLogger('identity') });
    closers.push(() => identity.close());
    const services: Record<string, string> = { [IDENTITY_SERVICE_NAME]: identity.grpc.address };

    const edge = await startEdge({
      host: config.EDGE_HOST,
      port: config.EDGE_PORT,
      upstreams: services,
      ...(config.EDGE_ACCESS_LOG === 'off' ? { accessLog: false as const } : {}),
    });
    closers.push(() => edge.close());
    return { url: edge.url, services, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export async function runEmbedded(): Promise<void> {
  const log = createLogger('embedded');
  const stack = await startStack();
  for (const [service, address] of Object.entries(stack.services)) log.info({ service, address }, 'gRPC service listening');
  log.info({ url: stack.url }, 'REST edge listening');
  process.stdout.write(
    [
      '',
      'Taskmesh is running.',
      `  REST API   ${stack.url}   (try: curl -s ${stack.url}/healthz; docs at ${stack.url}/docs)`,
      ...Object.entries(stack.services).map(([service, address]) => `  gRPC       ${address}   ${service}`),
      `  Data       ${process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : `embedded PostgreSQL (PGlite) under ${process.env.TASKMESH_DATA_DIR || '.data'}/`}`,
      '  Stop with Ctrl+C.',
      '',
    ].join('\n'),
  );
  onShutdownSignal(async () => {
    await stack.close();
    await shutdownTelemetry();
  }, log);
}
