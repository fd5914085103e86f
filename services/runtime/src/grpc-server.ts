import { randomUUID } from 'node:crypto';
import {
  Server,
  ServerCredentials,
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { context, type Context } from '@opentelemetry/api';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Database } from './database.ts';
import { watchDatabaseHealth, type DatabaseHealthWatch } from './database-health.ts';
import { toServiceError } from './errors.ts';
import { requestLogger } from './logger.ts';
import { serverCallObserver } from './rpc-server-observation.ts';
import { defaultRequestStringChecks, rejectInvalidRequest, withRequestStringChecks } from './request-strings.ts';
import { shutdownGraceMs } from './shutdown.ts';

/** What a handler knows about the call it serves, besides the request message. */
export interface CallContext {
  readonly method: string;
  readonly metadata: Metadata;
  /** Remote address as grpc-js reports it (the edge's, when the call came through it). */
  readonly peer: string;
  /** From the x-request-id header, generated when absent. */
  readonly requestId: string;
  readonly log: Logger;
  /** Aborted when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
}

export interface ServerStream<Res> {
  write(message: Res): void;
  /** Resolves once the call can take more messages without buffering (or has ended): for long streams. */
  writable(): Promise<void>;
  /** Sends the response headers now rather than with the first message (a stream that may stay quiet). */
  sendHeaders(): void;
}

/** A service implemented as async functions, typed from ts-proto's generated grpc-js service definition. */
export type AsyncService<D> = {
  [K in keyof D]: D[K] extends {
    requestDeserialize: (value: Buffer) => infer Req;
    responseDeserialize: (value: Buffer) => infer Res;
    responseStream: infer Streaming;
  }
    ? Streaming extends true
      ? (request: Req, ctx: CallContext, stream: ServerStream<Res>) => Promise<void>
      : (request: Req, ctx: CallContext) => Promise<Res>
    : never;
};

export interface Interceptor {
  /** Runs before every handler; may throw a DomainError to reject the call. */
  (request: unknown, ctx: CallContext): Promise<void> | void;
}

/**
 * A call's context. Everything a handler may not use is made on first use:
 * - the request's child logger: with redaction configured, pino runs the redaction over the bindings of every
 *   child it makes, ~4 % of the task service's CPU per GetTask (docs/benchmarks-history.md, 8), and most calls log nothing
 *   at the deployed level;
 * - the AbortSignal: grpc-js reports every call's stream close as 'cancelled', finished calls included, and
 *   aborting a signal builds a DOMException with a stack trace (~6 % of the task service's CPU per GetTask with
 *   the listener and the abort event). A signal first asked for after the call was cancelled is already aborted,
 *   with the same kind of reason, so a handler cannot tell the difference;
 * - the peer address string.
 */
class GrpcCallContext implements CallContext {
  readonly requestId: string;
  /** The context the call started in (its server span's), for listeners grpc-js calls from outside it. */
  private readonly startContext: Context = context.active();
  private requestLog: Logger | undefined;
  private controller: AbortController | undefined;
  private peerAddress: string | undefined;

  constructor(
    readonly method: string,
    private readonly call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
    private readonly baseLog: Logger,
  ) {
    const incoming = call.metadata.get('x-request-id')[0];
    this.requestId = typeof incoming === 'string' && incoming.length > 0 && incoming.length <= 200 ? incoming : randomUUID();
  }

  get metadata(): Metadata {
    return this.call.metadata;
  }

  get peer(): string {
    return (this.peerAddress ??= this.call.getPeer());
  }

  get log(): Logger {
    return (this.requestLog ??= requestLogger(this.baseLog, { requestId: this.requestId, method: this.method }));
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = (this.controller = new AbortController());
      // grpc-js sets `cancelled` before it emits the event, so no cancellation falls between the two.
      if (this.call.cancelled) controller.abort();
      else this.call.once('cancelled', context.bind(this.startContext, () => controller.abort()));
    }
    return this.controller.signal;
  }
}

/** The context bindService gives a handler for one call; exported for tests. */
export function callContext(
  method: string,
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  log: Logger,
): CallContext {
  return new GrpcCallContext(method, call, log);
}

/** Waits for 'drain' when the call's buffer is full; a cancelled or closed call never drains, so those end the wait. */
function writableAgain(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  if (!call.writableNeedDrain || call.cancelled || call.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
  });
}

/**
 * Adapts async handlers to grpc-js callbacks. Every error goes through the one mapper in errors.ts, so a
 * handler never decides status codes and nothing internal reaches the caller.
 */
export function bindService<D extends ServiceDefinition>(
  definition: D,
  handlers: AsyncService<D>,
  log: Logger,
  interceptors: Interceptor[] = [],
): UntypedServiceImplementation {
  const implementation: UntypedServiceImplementation = {};
  for (const [key, method] of Object.entries(definition)) {
    const handler = (handlers as Record<string, unknown>)[key];
    if (typeof handler !== 'function') throw new Error(`no handler for ${method.path}`);
    const observe = serverCallObserver(method.path);
    if (method.responseStream) {
      const serve = async (call: ServerWritableStream<unknown, unknown>) => {
        const ctx = callContext(method.path, call, log);
        try {
          rejectInvalidRequest(call.request);
          for (const interceptor of interceptors) await interceptor(call.request, ctx);
          await (handler as (r: unknown, c: CallContext, s: ServerStream<unknown>) => Promise<void>)(call.request, ctx, {
            write: (message) => call.write(message),
            writable: () => writableAgain(call),
            sendHeaders: () => call.sendMetadata(new Metadata()),
          });
          call.end();
          return 0;
        } catch (err) {
          // grpc-js sends a server stream's status from 'error' (then ends it); destroy() would drop the status
          // and the client would see CANCELLED instead of the real code.
          const error = toServiceError(err, ctx.log, { method: method.path });
          call.emit('error', error);
          return error.code ?? 2;
        }
      };
      implementation[key] = ((call: ServerWritableStream<unknown, unknown>) => observe(call.metadata, serve, call)) as handleServerStreamingCall<unknown, unknown>;
    } else {
      const serve = async (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const ctx = callContext(method.path, call, log);
        try {
          rejectInvalidRequest(call.request);
          for (const interceptor of interceptors) await interceptor(call.request, ctx);
          const response = await (handler as (r: unknown, c: CallContext) => Promise<unknown>)(call.request, ctx);
          callback(null, response);
          return 0;
        } catch (err) {
          const error = toServiceError(err, ctx.log, { method: method.path });
          callback(error);
          return error.code ?? 2;
        }
      };
      implementation[key] = ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
        observe(call.metadata, serve, call, callback)) as handleUnaryCall<unknown, unknown>;
    }
  }
  return implementation;
}

export interface ServiceRegistration {
  /** Full proto name, e.g. taskmesh.identity.v1.IdentityService (the health check's service name). */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface RunningGrpcServer {
  server: Server;
  health: HealthImplementation;
  port: number;
  /** host:port to dial. */
  address: string;
  /** Present when started with a database. */
  databaseHealth?: DatabaseHealthWatch;
  /** Stops accepting calls, lets in-flight ones finish (up to graceMs, default SHUTDOWN_GRACE_SECONDS), then cuts the rest. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Starts a grpc-js server with grpc.health.v1 on host:port (port 0 picks a free one, as tests do). */
export async function startGrpcServer(options: {
  host?: string;
  port: number;
  services: ServiceRegistration[];
  log: Logger;
  /** The service's database: health turns NOT_SERVING while it does not answer (database-health.ts). */
  database?: Database;
}): Promise<RunningGrpcServer> {
  const server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
  const health = new HealthImplementation({ '': 'SERVING' });
  // Every request's strings are checked against the descriptor set before its handler (request-strings.ts).
  const stringChecks = defaultRequestStringChecks();
  for (const service of options.services) {
    server.addService(withRequestStringChecks(service.definition, stringChecks), service.implementation);
    health.setStatus(service.name, 'SERVING');
  }
  health.addToServer(server);
  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${options.port}`, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  const databaseHealth = options.database
    ? watchDatabaseHealth({ db: options.database, health, services: options.services.map((s) => s.name), log: options.log })
    : undefined;
  let stopped: Promise<void> | undefined;
  return {
    server,
    health,
    port,
    address: `${host}:${port}`,
    ...(databaseHealth ? { databaseHealth } : {}),
    shutdown(graceMs = shutdownGraceMs()) {
      databaseHealth?.stop();
      stopped ??= new Promise<void>((resolve) => {
        health.setStatus('', 'NOT_SERVING');
        for (const service of options.services) health.setStatus(service.name, 'NOT_SERVING');
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      return stopped;
    },
  };
}

// Lives in shutdown.ts (grace period, hard exit timer); re-exported for the entry points that import it here.
export { onShutdownSignal } from './shutdown.ts';
