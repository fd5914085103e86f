import type { Attributes, Meter, MeterProvider } from '@opentelemetry/api';
import { metrics } from '@opentelemetry/api';
import { ConfigError } from './config.ts';

// Metrics through OpenTelemetry, read by Prometheus from one scrape endpoint per process (METRICS_PORT, default
// 9464; `0` or `off` turns it off). Every series carries a `service` label (identity, task, edge, ...), so the
// embedded stack's one endpoint tells its services apart; docs/observability.md lists the families.
//
// Instruments are made when the module that records them is first imported, which every entry point does
// after startTelemetry (telemetry.ts): the metrics API has no proxy, so a meter taken before a MeterProvider is
// installed stays a no-op for good. In tests that start services without telemetry, everything is a no-op.

export const DEFAULT_METRICS_PORT = 9464;

/** The meter every Taskmesh instrument is made from. */
export function taskmeshMeter(): Meter {
  return metrics.getMeter('taskmesh');
}

/** Buckets for durations in seconds (the OpenTelemetry HTTP and DB conventions' advice). */
export const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
/** Buckets for durations in milliseconds. */
export const MILLISECONDS_BUCKETS = [1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 10_000];

/**
 * Attribute sets reused per distinct key instead of built per measurement: a hot path records with the same
 * few combinations (method x status) over and over.
 */
export class AttributeSets<K> {
  private readonly sets = new Map<K, Attributes>();
  constructor(private readonly build: (key: K) => Attributes) {}
  get(key: K): Attributes {
    let set = this.sets.get(key);
    if (set === undefined) {
      set = Object.freeze(this.build(key));
      this.sets.set(key, set);
    }
    return set;
  }
}

export interface MetricsSettings {
  /** undefined: no endpoint */
  port: number | undefined;
  host: string;
}

/** METRICS_PORT (default 9464; 0 or off: none) and METRICS_HOST (default `defaultHost`). */
export function readMetricsSettings(env: NodeJS.ProcessEnv, defaultHost: string): MetricsSettings {
  const raw = env.METRICS_PORT?.trim().toLowerCase() ?? '';
  const host = env.METRICS_HOST?.trim() || defaultHost;
  if (raw === '') return { port: DEFAULT_METRICS_PORT, host };
  if (raw === 'off' || raw === '0') return { port: undefined, host };
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid configuration: METRICS_PORT: expected a port (1-65535), 0 or off, got ${JSON.stringify(env.METRICS_PORT)}`);
  }
  return { port, host };
}

export interface MetricsEndpoint {
  provider: MeterProvider;
  /** The scrape URL, when the server is listening. */
  url: string | undefined;
  shutdown(): Promise<void>;
}

/**
 * Installs the process's MeterProvider with a Prometheus reader and starts its HTTP server. A port already in
 * use (two processes on one host with the default) is reported and leaves the process without an endpoint
 * rather than stopping it.
 */
export async function startMetricsEndpoint(settings: MetricsSettings & { serviceName: string }): Promise<MetricsEndpoint | undefined> {
  if (settings.port === undefined) return undefined;
  const [{ MeterProvider }, { PrometheusExporter }, { resourceFromAttributes, defaultResource }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new PrometheusExporter({ host: settings.host, port: settings.port, preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': settings.serviceName })),
    readers: [exporter],
  });
  metrics.setGlobalMeterProvider(provider);
  let url: string | undefined;
  try {
    await exporter.startServer();
    url = `http://${settings.host.includes(':') ? `[${settings.host}]` : settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host}:${settings.port}/metrics`;
  } catch (err) {
    process.stderr.write(
      `${JSON.stringify({ level: 'warn', msg: 'metrics endpoint not started; set METRICS_PORT to a free port (or off)', port: settings.port, err: String(err) })}\n`,
    );
  }
  return { provider, url, shutdown: () => provider.shutdown() };
}
