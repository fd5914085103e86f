// Proves the entry-point pattern of telemetry.ts in a fresh tsx process per case (the loader hook must
// start clean, which a vitest worker is not): real grpc-js server and client, real PostgreSQL.
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface ReportedSpan {
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  scope: string;
  serviceName: string;
}
interface Report {
  parentTraceId: string;
  healthStatus: string;
  httpStatus: number;
  postgresUnavailable?: string;
  spans: ReportedSpan[];
}

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'node_modules', '.bin');

async function runFixture(name: string, env: Record<string, string> = {}): Promise<Report> {
  const { stdout } = await promisify(execFile)(join(bin, 'tsx'), [join(import.meta.dirname, 'fixtures', name)], {
    cwd: root,
    // tsx's shebang finds `node` on PATH: it must be the Node 24 from node_modules, not the system one.
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Report;
}

const healthCheck = 'grpc.health.v1.Health/Check';
const grpcScope = '@opentelemetry/instrumentation-grpc';

function callerTrace(report: Report) {
  const spans = report.spans.filter((span) => span.traceId === report.parentTraceId);
  const grpcSpan = (kind: SpanKind) =>
    spans.find((span) => span.scope === grpcScope && span.kind === kind && span.name.endsWith(healthCheck));
  return {
    spans,
    caller: spans.find((span) => span.name === 'proof'),
    client: grpcSpan(SpanKind.CLIENT),
    server: grpcSpan(SpanKind.SERVER),
  };
}

describe('telemetry started by main.ts before it imports the app', () => {
  let report: Report;
  beforeAll(async () => {
    report = await runFixture('telemetry-main.ts');
  });

  it('traces a real grpc-js call: client and server spans in the caller’s trace, server under client', () => {
    expect(report.healthStatus).toBe('SERVING');
    const { caller, client, server } = callerTrace(report);
    expect(caller).toBeDefined();
    expect(client).toBeDefined();
    expect(server).toBeDefined();
    expect(client?.parentSpanId).toBe(caller?.spanId);
    expect(server?.parentSpanId).toBe(client?.spanId);
    expect(server?.serviceName).toBe('telemetry-proof');
  });

  it('traces an HTTP request as the edge receives it: server span under the client span, same trace', () => {
    expect(report.httpStatus).toBe(200);
    const { caller, spans } = callerTrace(report);
    const httpSpan = (kind: SpanKind) =>
      spans.find((span) => span.scope === '@opentelemetry/instrumentation-http' && span.kind === kind);
    const client = httpSpan(SpanKind.CLIENT);
    const server = httpSpan(SpanKind.SERVER);
    expect(client?.parentSpanId).toBe(caller?.spanId);
    expect(server?.parentSpanId).toBe(client?.spanId);
    expect(server).toBeDefined();
  });

  it('traces the PostgreSQL query in the same trace, under the span that ran it', (ctx) => {
    if (report.postgresUnavailable !== undefined) {
      if (process.env.TASKMESH_REQUIRE_POSTGRES === '1') {
        throw new Error(`${report.postgresUnavailable} (TASKMESH_REQUIRE_POSTGRES=1)`);
      }
      // The default reporter hides skip notes; the reason must show in the run's output.
      console.warn(`pg tracing not checked: ${report.postgresUnavailable}`);
      ctx.skip(report.postgresUnavailable);
    }
    const { caller, spans } = callerTrace(report);
    const query = spans.find((span) => span.scope === '@opentelemetry/instrumentation-pg' && span.name.startsWith('pg.query'));
    expect(query).toBeDefined();
    expect(query?.kind).toBe(SpanKind.CLIENT);
    expect(query?.parentSpanId).toBe(caller?.spanId);
  });
});

// The control: the same scenario with the app imported statically by the entry point. It shows the proof
// above can fail, and why main.ts must import the app dynamically.
describe('telemetry started by a main.ts that imports the app statically', () => {
  it('misses the gRPC client span and splits the server span off the caller’s trace', async () => {
    const report = await runFixture('telemetry-main-static-imports.ts');
    expect(report.healthStatus).toBe('SERVING');
    const { caller, client, server } = callerTrace(report);
    expect(caller).toBeDefined();
    expect(client).toBeUndefined();
    expect(server).toBeUndefined();
  });
});

describe('telemetry with OTEL_EXPORTER_OTLP_ENDPOINT set and no injected processors', () => {
  // A stand-in collector: records what the OTLP/HTTP (JSON) exporter posts.
  const received: { path: string | undefined; body: OtlpTraces }[] = [];
  const collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url, body: JSON.parse(Buffer.concat(chunks).toString()) as OtlpTraces });
      response.setHeader('content-type', 'application/json').end('{}');
    });
  });
  beforeAll(async () => {
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
  });
  afterAll(() => new Promise((resolve) => collector.close(resolve)));

  it('exports the spans to the collector, flushed by shutdownTelemetry, under the service name', async () => {
    const { port } = collector.address() as { port: number };
    const report = await runFixture('telemetry-main-otlp.ts', { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(received.map((post) => post.path)).toContain('/v1/traces');
    const resourceSpans = received.flatMap((post) => post.body.resourceSpans ?? []);
    const serviceNames = resourceSpans.map(
      (entry) => entry.resource?.attributes?.find((attribute) => attribute.key === 'service.name')?.value.stringValue,
    );
    expect(new Set(serviceNames)).toEqual(new Set(['telemetry-otlp']));
    const spans = resourceSpans.flatMap((entry) => entry.scopeSpans?.flatMap((scope) => scope.spans ?? []) ?? []);
    const inCallerTrace = spans.filter((span) => span.traceId === report.parentTraceId).map((span) => span.name);
    expect(inCallerTrace).toContain('proof');
    expect(inCallerTrace.filter((name) => name.endsWith(healthCheck))).toHaveLength(2);
  });
});

/** The part of an OTLP/JSON trace export the test reads. */
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: { spans?: { traceId: string; name: string }[] }[];
  }[];
}
