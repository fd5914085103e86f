import type { EmbeddedPostgres } from '@taskmesh/runtime/embedded-postgres';
import { onShutdownSignal } from '@taskmesh/runtime/grpc-server';
import { createLogger } from '@taskmesh/runtime/logger';
import { portVariable, startStack } from '@taskmesh/runtime/stack';
import { shutdownTelemetry } from '@taskmesh/runtime/telemetry';
import { ALL_SERVICES, edgeFront } from './services.ts';

/** Overrides that put every service and the edge on a free port (several stacks side by side). */
export const EVERY_PORT_FREE: Record<string, string> = {
  EDGE_PORT: '0',
  ...Object.fromEntries(ALL_SERVICES.map((s) => [portVariable(s.name), '0'])),
};

/**
 * Links in mails and share links point at the edge. In one process the edge's port is known, so when only
 * EDGE_PORT is set (not 0) the public base URLs default to it instead of port 8080.
 */
export function linkBaseDefaults(environment: Record<string, string | undefined>): Record<string, string> {
  const port = environment.EDGE_PORT;
  if (!port || !/^[1-9]\d*$/.test(port)) return {};
  const base = `http://127.0.0.1:${port}`;
  return Object.fromEntries(['APP_BASE_URL', 'SHARE_LINK_BASE_URL'].filter((name) => !environment[name]).map((name) => [name, base]));
}

/**
 * `npm start`: every service in this process behind the REST edge (runtime/stack.ts), configured from the
 * environment; stops on SIGTERM/SIGINT within SHUTDOWN_GRACE_SECONDS (edge first, PostgreSQL last).
 * `early.postgres` is an embedded PostgreSQL already starting (main.ts).
 */
export async function runEmbedded(early: { postgres?: Promise<EmbeddedPostgres> } = {}): Promise<void> {
  const log = createLogger('embedded');
  const stack = await startStack({
    services: ALL_SERVICES,
    front: edgeFront,
    overrides: linkBaseDefaults(process.env),
    ...(early.postgres ? { postgres: early.postgres } : {}),
  });
  const listed = ALL_SERVICES.map((s) => [s.grpcService ?? `${s.name} (consumes events, no API)`, stack.addresses[s.name]!] as const);
  for (const [service, address] of listed) log.info({ service, address }, 'gRPC service listening');
  log.info({ url: stack.url }, 'REST edge listening');
  process.stdout.write(
    [
      '',
      'Taskmesh is running.',
      `  REST API   ${stack.url}   (try: curl -s ${stack.url}/healthz; docs at ${stack.url}/docs)`,
      ...listed.map(([service, address]) => `  gRPC       ${address}   ${service}`),
      `  Data       ${process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : `embedded PostgreSQL under ${process.env.TASKMESH_DATA_DIR || '.data'}/postgres`}`,
      `  Events     ${stack.events === 'jetstream' ? 'NATS JetStream at NATS_URL' : 'in-process (set NATS_URL for JetStream)'}`,
      `  Mail       ${process.env.SMTP_URL ? 'SMTP at SMTP_URL' : `.eml files under ${process.env.TASKMESH_DATA_DIR || '.data'}/mail`}`,
      '  Stop with Ctrl+C.',
      '',
    ].join('\n'),
  );
  onShutdownSignal(async () => {
    await stack.close();
    await shutdownTelemetry();
  }, log);
}
