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

/** The service of `ctx` (default: the active context), if one was set there. */
export function serviceInContext(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(serviceKey) as string | undefined;
}

let processService: string | undefined;

/** What work outside any service's context belongs to: the process's service (startTelemetry sets it). */
export function setProcessService(service: string): void {
  processService = service;
}

/** The service the active work belongs to: its context's, else the process's. */
export function currentService(): string | undefined {
  return serviceInContext() ?? processService;
}

/**
 * Runs `start` as `service`: what it leaves running (servers, relays, consumers, timers) keeps that context,
 * so the embedded launcher starts each service with this.
 */
export function runAsService<T>(service: string, start: () => T): T {
  return context.with(withService(context.active(), service), start);
}

/** `identity` from `/taskmesh.identity.v1.IdentityService/LogIn` or `taskmesh.identity.v1.IdentityService`. */
export function serviceOfProtoName(name: string): string | undefined {
  const start = name.startsWith('/') ? 1 : 0;
  if (!name.startsWith('taskmesh.', start)) return undefined;
  const end = name.indexOf('.', start + 9);
  return end < 0 ? undefined : name.slice(start + 9, end);
}
