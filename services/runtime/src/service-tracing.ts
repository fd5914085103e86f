import { SpanKind, context, trace, type Context, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TracerProvider as SdkTracerProvider,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type Span as SdkSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { serviceInContext, serviceOfProtoName } from './current-service.ts';

/**
 * The gRPC instrumentation starts a server span before any Taskmesh code runs, in a context extracted from the
 * call's metadata alone: its name (`grpc.taskmesh.task.v1.TaskService/CreateTask`) says whose it is.
 */
function serverSpanService(name: string, options: SpanOptions | undefined): string | undefined {
  return options?.kind === SpanKind.SERVER && name.startsWith('grpc.taskmesh.') ? serviceOfProtoName(name.slice(5)) : undefined;
}

/**
 * A TracerProvider per service, behind one that picks, for every span, the provider of the service its
 * parent context names (current-service.ts), or `defaultService`. OpenTelemetry fixes `service.name` on a
 * provider's Resource, so several services in one process (the embedded stack) need one provider each;
 * instrumentations know only the global provider, and this routes their spans too. All providers feed the
 * same span processors, so one exporter sends every service's spans (grouped by resource, as OTLP does).
 */
export interface ServiceTracerProvider extends TracerProvider {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function serviceTracerProvider(options: { defaultService: string; spanProcessors: SpanProcessor[] }): ServiceTracerProvider {
  const processors = options.spanProcessors;
  // Shared by every provider; shut down once, here, not by each provider.
  const shared: SpanProcessor = {
    onStart: (span: SdkSpan, parent: Context) => {
      for (const processor of processors) processor.onStart(span, parent);
    },
    onEnd: (span: ReadableSpan) => {
      for (const processor of processors) processor.onEnd(span);
    },
    forceFlush: async () => {
      await Promise.all(processors.map((processor) => processor.forceFlush()));
    },
    shutdown: async () => undefined,
  };
  const sampler = samplerFromEnv(process.env);
  const base = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  const providers = new Map<string, SdkTracerProvider>();
  const providerOf = (service: string): SdkTracerProvider => {
    let provider = providers.get(service);
    if (provider === undefined) {
      provider = new SdkTracerProvider({
        resource: base.merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: service })),
        spanProcessors: [shared],
        sampler,
      });
      providers.set(service, provider);
    }
    return provider;
  };

  const tracers = new Map<string, Tracer>();
  const tracerOf = (service: string, name: string, version: string | undefined): Tracer => {
    const key = `${service}\0${name}\0${version ?? ''}`;
    let tracer = tracers.get(key);
    if (tracer === undefined) {
      tracer = providerOf(service).getTracer(name, version);
      tracers.set(key, tracer);
    }
    return tracer;
  };

  return {
    getTracer(name: string, version?: string): Tracer {
      const tracer: Tracer = {
        startSpan(spanName: string, spanOptions?: SpanOptions, parent: Context = context.active()): Span {
          const service = serviceInContext(parent) ?? serverSpanService(spanName, spanOptions) ?? options.defaultService;
          return tracerOf(service, name, version).startSpan(spanName, spanOptions, parent);
        },
        startActiveSpan(spanName: string, ...rest: unknown[]) {
          const fn = rest.at(-1) as (span: Span) => unknown;
          const spanOptions = (rest.length >= 2 ? rest[0] : undefined) as SpanOptions | undefined;
          const parent = ((rest.length >= 3 ? rest[1] : undefined) as Context | undefined) ?? context.active();
          const span = tracer.startSpan(spanName, spanOptions, parent);
          return context.with(trace.setSpan(parent, span), fn, undefined, span);
        },
      } as Tracer;
      return tracer;
    },
    async forceFlush() {
      await shared.forceFlush();
    },
    async shutdown() {
      await shared.forceFlush();
      await Promise.all(processors.map((processor) => processor.shutdown()));
    },
  };
}

/**
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG as the SDK reads them (NodeSDK does it for the provider it makes,
 * and does not export how); unset or unknown: parent-based always-on, the SDK's default.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const ratio = () => {
    const value = Number(env.OTEL_TRACES_SAMPLER_ARG);
    return new TraceIdRatioBasedSampler(Number.isFinite(value) && value >= 0 && value <= 1 ? value : 1);
  };
  switch (env.OTEL_TRACES_SAMPLER?.trim().toLowerCase()) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
