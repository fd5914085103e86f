// Telemetry bootstrap: OpenTelemetry tracing of gRPC, PostgreSQL (pg) and HTTP, exported over OTLP/HTTP
// only when OTEL_EXPORTER_OTLP_ENDPOINT is set, and metrics on a Prometheus endpoint (metrics.ts).
//
// How an entry point must start it (ESM: the order is the whole point):
//
//   // services/<name>/src/main.ts
//   import { startTelemetry } from '@taskmesh/runtime/telemetry';
//   await startTelemetry({ serviceName: '<name>' });
//   await import('./run.ts'); // everything else: grpc-js, pg, the ORM, the service itself
//
// main.ts statically imports nothing but this module. Static imports are linked and evaluated before any
// module body runs, so a grpc-js or pg reached through a static import of main.ts loads before the loader
// hook below exists and is never wrapped for its ESM importers: the gRPC client goes unrecorded, the server
// span starts its own trace, pg is not traced (all measured; test/telemetry.test.ts keeps that case as a
// control). For the same reason this module statically imports only `node:module` and types: even the SDK
// is imported after the hook, because @opentelemetry/sdk-node statically imports @grpc/grpc-js (through
// its OTLP/gRPC log exporter).
//
// Runs unchanged under `tsx services/<name>/src/main.ts`, `node --import tsx ...` and
// `node --import tsx/esm ...`: tsx's loader and the import-in-the-middle hook chain without conflict, so
// no extra `--import` flag is needed. test/telemetry.test.ts proves the tsx case in a fresh process
// (without the hook: no gRPC spans at all).
//
// Adding an instrumentation means adding the modules it patches to `instrumentedModules`.
import { register } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import type { Context, Span, SpanOptions, Tracer, TracerProvider } from '@opentelemetry/api';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { setProcessService } from './current-service.ts';
import { readMetricsSettings, startMetricsEndpoint } from './metrics.ts';

export interface TelemetryOptions {
  /**
   * resource `service.name` of what is not attributed to a service (current-service.ts); the embedded launcher
   * passes "taskmesh" once for all its services, whose spans still carry their own (service-tracing.ts)
   */
  serviceName: string;
  /** Interface of the metrics endpoint unless METRICS_HOST says otherwise; default 0.0.0.0 (a pod's scrape). */
  metricsHost?: string;
  /** replaces the default processors (tests inject an in-memory exporter) */
  spanProcessors?: SpanProcessor[];
}

/** What the instrumentations below patch, by import specifier (built-ins also match as `node:<name>`). */
const instrumentedModules = ['@grpc/grpc-js', 'pg', 'pg-pool', 'http', 'https'];

interface TelemetryState {
  started?: Promise<{ shutdown(): Promise<void> }>;
  stopped?: Promise<void>;
  /** Set when bindService (grpc-server.ts) makes the server spans instead of the gRPC instrumentation. */
  serverSpans?: boolean;
  /** Set when callUnary (grpc-client.ts) puts the caller's trace context into the metadata itself. */
  injectClientContext?: boolean;
}
// Per process, not per module instance: a second copy of this module (another resolution path, a test
// runner's own loader) must not register the hook or start an SDK again.
const state: TelemetryState = ((globalThis as { [key: symbol]: TelemetryState })[
  Symbol.for('taskmesh.telemetry')
] ??= {});

/**
 * Starts tracing once per process. Later calls (several services in one embedded process) return the
 * first start and ignore their options.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<void> {
  state.started ??= start(options);
  await state.started;
}

/** Flushes pending spans and stops the SDK; safe to call more than once or without a start. */
export async function shutdownTelemetry(): Promise<void> {
  if (state.started === undefined) return;
  state.stopped ??= state.started.then((sdk) => sdk.shutdown());
  await state.stopped;
}

async function start(options: TelemetryOptions): Promise<{ shutdown(): Promise<void> }> {
  const metricsSettings = readMetricsSettings(process.env, options.metricsHost ?? '0.0.0.0');
  setProcessService(options.serviceName);
  const exporting = options.spanProcessors !== undefined || Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT);
  // Without an exporter (and with the default sampler) spans are never read by anything, so they need not
  // record: a tracer that only makes span contexts keeps what they are kept for — new span ids, the caller's
  // trace id, flags and trace state, so logs carry trace ids and trace context goes on to the next service and
  // into the outbox exactly as before — and skips the SDK's span objects, attributes and processing (docs/
  // benchmarks-history.md, 9.4). OTEL_TRACES_SAMPLER set, or OTEL_SDK_DISABLED, keeps the SDK's own handling.
  const lightweight = !exporting && !process.env.OTEL_TRACES_SAMPLER?.trim() && !process.env.OTEL_PROPAGATORS?.trim() && !/^\s*true\s*$/i.test(process.env.OTEL_SDK_DISABLED ?? '');
  if (lightweight) return startWithoutExport(metricsSettings, options.serviceName);
  const instrumentations = await recordingInstrumentations(exporting);

  const [{ NodeSDK }, { NoopSpanProcessor }, api, { serviceTracerProvider }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/api'),
    import('./service-tracing.ts'),
  ]);
  const spanProcessors = options.spanProcessors ?? (await defaultSpanProcessors());
  const sdk = new NodeSDK({
    serviceName: options.serviceName,
    instrumentations,
    // An empty list: the SDK installs no tracer provider (one of the two below takes its place).
    spanProcessors: [],
    // Left to the environment, the SDK would push metrics and logs to localhost:4318 unasked.
    metricReaders: [],
    logRecordProcessors: [],
    // textMapPropagator and contextManager stay at the SDK defaults: W3C trace-context + baggage
    // (unless OTEL_PROPAGATORS says otherwise) and AsyncLocalStorage.
  });
  sdk.start();
  // One provider per service, so each span carries its own service.name (several services share the embedded
  // process); the SDK's instrumentations above find it as the global provider.
  const tracing = serviceTracerProvider({ defaultService: options.serviceName, spanProcessors });
  api.trace.setGlobalTracerProvider(tracing);
  // After sdk.start(): the instrumentations took the (no-op) global meter provider then and record no metrics
  // of their own; Taskmesh's instruments (metrics.ts) are the ones exported.
  const metricsEndpoint = await startMetricsEndpoint({ ...metricsSettings, serviceName: options.serviceName });
  return {
    async shutdown() {
      await Promise.all([sdk.shutdown(), tracing.shutdown(), metricsEndpoint?.shutdown()]);
    },
  };

  async function defaultSpanProcessors(): Promise<SpanProcessor[]> {
    if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
      // No exporter and no network, but spans still get ids, so logs carry trace ids and incoming
      // trace context is continued.
      return [new NoopSpanProcessor()];
    }
    const [{ OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/sdk-trace'),
    ]);
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and _TRACES_ENDPOINT, _HEADERS) itself.
    return [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })];
  }
}

/**
 * A process whose spans go nowhere (no exporter, default sampler and propagators) needs only what carries
 * trace context: the AsyncLocalStorage context manager, the W3C propagators and non-recording tracers.
 * Nothing patches modules — bindService makes the server spans and callUnary injects the caller's context —
 * so neither the loader hook (a synchronous round trip to a worker thread for every module loaded) nor the
 * SDK with its exporters is loaded: together most of a start-up's CPU time.
 */
async function startWithoutExport(
  metricsSettings: ReturnType<typeof readMetricsSettings>,
  serviceName: string,
): Promise<{ shutdown(): Promise<void> }> {
  const [api, { AsyncLocalStorageContextManager }, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
  ]);
  state.serverSpans = true;
  state.injectClientContext = true;
  const contextManager = new AsyncLocalStorageContextManager().enable();
  api.context.setGlobalContextManager(contextManager);
  api.propagation.setGlobalPropagator(
    new core.CompositePropagator({ propagators: [new core.W3CTraceContextPropagator(), new core.W3CBaggagePropagator()] }),
  );
  api.trace.setGlobalTracerProvider(nonRecordingTracerProvider(api));
  const metricsEndpoint = await startMetricsEndpoint({ ...metricsSettings, serviceName });
  return {
    async shutdown() {
      await metricsEndpoint?.shutdown();
    },
  };
}

/** The instrumentations of a process whose spans are exported; they patch modules through the ESM hook. */
async function recordingInstrumentations(exporting: boolean): Promise<Instrumentation[]> {
  // ESM imports bypass require(), so without this hook the instrumentations never see an imported grpc-js
  // (no gRPC spans at all; measured). Only the instrumented packages are wrapped: wrapping every module,
  // the hook's default, slows start-up and puts a proxy namespace in front of all application code.
  const wrapped = exporting ? instrumentedModules : instrumentedModules.filter((name) => !name.startsWith('pg'));
  register('import-in-the-middle/hook.mjs', import.meta.url, { data: { include: wrapped } });
  // Constructing an instrumentation enables it.
  const [{ GrpcInstrumentation }, { HttpInstrumentation }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation-grpc'),
    import('@opentelemetry/instrumentation-http'),
    import('@opentelemetry/instrumentation-pg'),
  ]);
  return [
    new GrpcInstrumentation(),
    // Outgoing requests only: the edge makes its own server span per REST request (services/edge/src/
    // edge-telemetry.ts, with the route template), and the metrics endpoint's scrapes are not traced.
    new HttpInstrumentation({ disableIncomingRequestInstrumentation: true }),
    // Queries outside a request (migrations at start-up, pool housekeeping) would each open a root trace.
    ...(exporting ? [new PgInstrumentation({ requireParentSpan: true })] : []),
  ];
}

/**
 * Tracers whose spans do not record (isRecording() is false; attributes, events and status are dropped) but
 * carry the span context the SDK's default sampler, parent-based always-on, would give them: a new span id,
 * the parent's trace id and trace state (a new trace id at a root), and the sampled flag the parent-based
 * sampler decides — set at a root, the parent's otherwise. A context with tracing suppressed gets the invalid
 * span context, as from the SDK.
 */
export function nonRecordingTracerProvider(api: typeof OtelApi): TracerProvider {
  const { context, trace, TraceFlags, INVALID_SPAN_CONTEXT } = api;
  // The key @opentelemetry/core's suppressTracing sets (context keys are Symbol.for their description).
  const suppressTracing = api.createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');
  const ids = Buffer.allocUnsafe(16);
  const randomId = (bytes: 8 | 16): string => {
    for (let i = 0; i < bytes; i += 4) ids.writeUInt32BE((Math.random() * 2 ** 32) >>> 0, i);
    // All-zero ids are invalid.
    if (ids.readUInt32BE(0) === 0 && ids.readUInt32BE(4) === 0 && (bytes === 8 || (ids.readUInt32BE(8) === 0 && ids.readUInt32BE(12) === 0))) ids[bytes - 1] = 1;
    return ids.toString('hex', 0, bytes);
  };
  const tracer: Tracer = {
    startSpan(_name, options = {}, parentContext = context.active()) {
      if (parentContext.getValue(suppressTracing) === true) return trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
      const parent = options.root ? undefined : trace.getSpanContext(parentContext);
      const spanId = randomId(8);
      if (parent === undefined || !trace.isSpanContextValid(parent)) {
        return trace.wrapSpanContext({ traceId: randomId(16), spanId, traceFlags: TraceFlags.SAMPLED });
      }
      return trace.wrapSpanContext({
        traceId: parent.traceId,
        spanId,
        traceFlags: parent.traceFlags & TraceFlags.SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE,
        ...(parent.traceState === undefined ? {} : { traceState: parent.traceState }),
      });
    },
    startActiveSpan(name: string, ...rest: unknown[]) {
      const fn = rest.at(-1) as (span: Span) => unknown;
      const options = (rest.length >= 2 ? rest[0] : undefined) as SpanOptions | undefined;
      const parentContext = (rest.length >= 3 ? rest[1] : undefined) as Context | undefined ?? context.active();
      const span = tracer.startSpan(name, options, parentContext);
      return context.with(trace.setSpan(parentContext, span), fn, undefined, span);
    },
  } as Tracer;
  return { getTracer: () => tracer };
}
