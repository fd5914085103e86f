import type { Attributes, Histogram } from '@opentelemetry/api';
import { MILLISECONDS_BUCKETS, taskmeshMeter } from './metrics.ts';

// rpc.server.duration and rpc.client.duration (OpenTelemetry RPC conventions, milliseconds) by service,
// gRPC method and status code.

let histograms: { server: Histogram; client: Histogram } | undefined;

function rpcHistograms() {
  if (histograms) return histograms;
  const meter = taskmeshMeter();
  const advice = { explicitBucketBoundaries: MILLISECONDS_BUCKETS };
  histograms = {
    server: meter.createHistogram('rpc.server.duration', { description: 'Duration of inbound gRPC calls', unit: 'ms', advice }),
    client: meter.createHistogram('rpc.client.duration', { description: 'Duration of outbound gRPC calls', unit: 'ms', advice }),
  };
  return histograms;
}

/**
 * The durations of one gRPC method as seen by one service, server or client side. Made once per method (bind
 * time, or first call), so a call only reads the clock and records: the attribute set per status code is built
 * once.
 */
export class RpcMethodMeter {
  private readonly byCode: Attributes[] = [];
  private readonly base: Attributes;

  constructor(
    private readonly side: 'server' | 'client',
    service: string,
    /** `/package.Service/Method` */
    path: string,
  ) {
    const slash = path.lastIndexOf('/');
    this.base = {
      service,
      'rpc.system': 'grpc',
      'rpc.service': path.slice(path.startsWith('/') ? 1 : 0, slash),
      'rpc.method': path.slice(slash + 1),
    };
  }

  /** `startedAt` from performance.now(); `code` the gRPC status the call ended with. */
  record(code: number, startedAt: number): void {
    const attributes = (this.byCode[code] ??= { ...this.base, 'rpc.grpc.status_code': code });
    rpcHistograms()[this.side].record(performance.now() - startedAt, attributes);
  }
}

const clientMeters = new Map<string, RpcMethodMeter>();

/** The client-side meter of `path` called by `service` (kept per pair: a handful per process). */
export function clientMethodMeter(service: string, path: string): RpcMethodMeter {
  const key = `${service} ${path}`;
  let meter = clientMeters.get(key);
  if (meter === undefined) {
    meter = new RpcMethodMeter('client', service, path);
    clientMeters.set(key, meter);
  }
  return meter;
}
