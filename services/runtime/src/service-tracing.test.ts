import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { serviceOfProtoName, withService } from './current-service.ts';
import { readMetricsSettings } from './metrics.ts';
import { samplerFromEnv, serviceTracerProvider } from './service-tracing.ts';

describe('serviceTracerProvider', () => {
  const exporter = new InMemorySpanExporter();
  const provider = serviceTracerProvider({ defaultService: 'taskmesh', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('test');
  const serviceOf = (name: string) => exporter.getFinishedSpans().find((span) => span.name === name)?.resource.attributes['service.name'];

  it("gives each span the service.name of its parent context's service, in one trace", () => {
    const edge = tracer.startSpan('edge request', { kind: SpanKind.SERVER }, withService(ROOT_CONTEXT, 'edge'));
    const inTask = withService(trace.setSpan(ROOT_CONTEXT, edge), 'task');
    const query = tracer.startSpan('query', { kind: SpanKind.CLIENT }, inTask);
    query.end();
    edge.end();
    expect(serviceOf('edge request')).toBe('edge');
    expect(serviceOf('query')).toBe('task');
    expect(query.spanContext().traceId).toBe(edge.spanContext().traceId);
  });

  it("names the gRPC instrumentation's server span after the service in its name, and the rest after the process", () => {
    tracer.startSpan('grpc.taskmesh.org.v1.OrgService/GetMembership', { kind: SpanKind.SERVER }, ROOT_CONTEXT).end();
    tracer.startSpan('housekeeping', {}, ROOT_CONTEXT).end();
    expect(serviceOf('grpc.taskmesh.org.v1.OrgService/GetMembership')).toBe('org');
    expect(serviceOf('housekeeping')).toBe('taskmesh');
  });
});

describe('service names and settings', () => {
  it('reads the service from a proto package or gRPC path', () => {
    expect(serviceOfProtoName('/taskmesh.identity.v1.IdentityService/LogIn')).toBe('identity');
    expect(serviceOfProtoName('taskmesh.task.v1.TaskService')).toBe('task');
    expect(serviceOfProtoName('/grpc.health.v1.Health/Check')).toBeUndefined();
  });

  it('reads METRICS_PORT: 9464 by default, 0 or off for none, anything else refused by name', () => {
    expect(readMetricsSettings({}, '0.0.0.0')).toEqual({ port: 9464, host: '0.0.0.0' });
    expect(readMetricsSettings({ METRICS_PORT: 'off', METRICS_HOST: '127.0.0.1' }, '0.0.0.0')).toEqual({ port: undefined, host: '127.0.0.1' });
    expect(readMetricsSettings({ METRICS_PORT: '0' }, 'x').port).toBeUndefined();
    expect(readMetricsSettings({ METRICS_PORT: '26464' }, 'x').port).toBe(26464);
    expect(() => readMetricsSettings({ METRICS_PORT: 'http' }, 'x')).toThrow(/METRICS_PORT/);
  });

  it('reads OTEL_TRACES_SAMPLER as the SDK does', () => {
    expect(samplerFromEnv({}).toString()).toMatch(/ParentBased\{root=AlwaysOnSampler/);
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).toString()).toMatch(/TraceIdRatioBased\{0.25\}/);
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'always_off' }).toString()).toBe('AlwaysOffSampler');
  });
});
