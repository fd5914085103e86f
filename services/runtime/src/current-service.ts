import { context, createContextKey, type Context } from '@opentelemetry/api';

// Which Taskmesh service the work in a context belongs to. Several services share one process in the embedded
// stack, so the process alone cannot say: the gRPC server, the outbox relay, the event consumers and the edge
// put their service in the context they run in, and spans (their resource's service.name) and metrics (their
// `service` label) read it from there.
const serviceKey = createContextKey('taskmesh.service');

/** `base` with `service` as the service its work belongs to. */
export function withService(base: Context, service: string): Context {
  return base.getValue(serviceKey) === service ? base : base.setValue(serviceKey, service);
}

/** The service of `ctx` (default: the active context), if one was set. */
export function currentService(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(serviceKey) as string | undefined;
}

/** `identity` from `/taskmesh.identity.v1.IdentityService/LogIn` or `taskmesh.identity.v1.IdentityService`. */
export function serviceOfProtoName(name: string): string | undefined {
  const start = name.startsWith('/') ? 1 : 0;
  if (!name.startsWith('taskmesh.', start)) return undefined;
  const end = name.indexOf('.', start + 9);
  return end < 0 ? undefined : name.slice(start + 9, end);
}
