import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Histogram,
  type Span,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { withService } from '@taskmesh/runtime/current-service';
import { AttributeSets, SECONDS_BUCKETS, taskmeshMeter } from '@taskmesh/runtime/metrics';
import { clientMethodMeter } from '@taskmesh/runtime/rpc-metrics';

// The edge's share of a trace and of the metrics: one SERVER span per REST request (continuing the client's
// traceparent), one CLIENT span per upstream gRPC call whose context goes out in the call's metadata, so the
// service's spans join the same trace; http.server.request.duration by route template and status, and
// rpc.client.duration of the upstream calls. Everything is the edge's (service.name / service="edge").

const EDGE = 'edge';
const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);
let tracer: Tracer | undefined;
let requestDuration: { histogram: Histogram; attributes: AttributeSets<string> } | undefined;

const metadataSetter: TextMapSetter<grpc.Metadata> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

function edgeTracer(): Tracer {
  return (tracer ??= trace.getTracer('@taskmesh/edge'));
}

function durationInstrument() {
  return (requestDuration ??= {
    histogram: taskmeshMeter().createHistogram('http.server.request.duration', {
      description: 'Duration of REST requests at the edge',
      unit: 's',
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    }),
    attributes: new AttributeSets((key: string) => {
      const [method, status, route] = key.split(' ', 3) as [string, string, string];
      return {
        service: EDGE,
        'http.request.method': method,
        'http.response.status_code': Number(status),
        ...(route ? { 'http.route': route } : {}),
      } satisfies Attributes;
    }),
  });
}

/** One REST request's span and timing. */
export class RequestObservation {
  readonly context: Context;
  private readonly span: Span;
  private readonly startedAt = performance.now();
  private readonly method: string;
  private route: string | undefined;

  constructor(request: IncomingMessage) {
    this.method = knownMethods.has(request.method ?? '') ? request.method! : '_OTHER';
    const parent = withService(propagation.extract(ROOT_CONTEXT, request.headers), EDGE);
    this.span = edgeTracer().startSpan(this.method, { kind: SpanKind.SERVER }, parent);
    if (this.span.isRecording()) {
      const url = request.url ?? '/';
      const q = url.indexOf('?');
      this.span.setAttributes({ 'http.request.method': this.method, 'url.path': q >= 0 ? url.slice(0, q) : url, 'url.scheme': 'http' });
    }
    this.context = trace.setSpan(parent, this.span);
  }

  /** The google.api.http template the request matched, e.g. `/v1/{parent=organizations/*}/boards`. */
  matched(route: string): void {
    this.route = route;
    if (this.span.isRecording()) {
      this.span.updateName(`${this.method} ${route}`);
      this.span.setAttribute('http.route', route);
    }
  }

  /** Ends the span and records the duration, once the response is over. */
  finish(response: ServerResponse): void {
    const status = response.statusCode;
    const instrument = durationInstrument();
    instrument.histogram.record((performance.now() - this.startedAt) / 1_000, instrument.attributes.get(`${this.method} ${status} ${this.route ?? ''}`));
    if (this.span.isRecording()) {
      this.span.setAttribute('http.response.status_code', status);
      if (status >= 500 || !response.writableFinished) this.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    this.span.end();
  }
}

/**
 * Starts the CLIENT span of an upstream call under the active (request) context and writes its context into
 * the call's metadata; the returned function ends it with the call's gRPC status.
 */
export function upstreamCall(path: string, metadata: grpc.Metadata): (code: number) => void {
  const parent = context.active();
  const span = edgeTracer().startSpan(path.slice(1), { kind: SpanKind.CLIENT }, parent);
  if (span.isRecording()) {
    const slash = path.lastIndexOf('/');
    span.setAttributes({ 'rpc.system': 'grpc', 'rpc.service': path.slice(1, slash), 'rpc.method': path.slice(slash + 1) });
  }
  propagation.inject(trace.setSpan(parent, span), metadata, metadataSetter);
  const meter = clientMethodMeter(EDGE, path);
  const startedAt = performance.now();
  return (code) => {
    meter.record(code, startedAt);
    if (span.isRecording()) {
      span.setAttribute('rpc.grpc.status_code', code);
      if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
}
