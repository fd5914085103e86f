// The observability of a running stack, as issue 13 asks for it: one trace per REST request across the edge,
// the services, PostgreSQL, the outbox relay and the consumers, each span under its own service.name; and every
// metric family on the Prometheus endpoint, with the dashboard and alerts in deploy/observability/ using only
// names that endpoint exports. Each case runs the stack in a fresh tsx process (telemetry must start before
// grpc-js and pg load, which a vitest worker cannot give).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { freePort } from '@taskmesh/runtime/testing/ports';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ReportedSpan } from '../../runtime/test/fixtures/telemetry-report.ts';

interface Report {
  events: string;
  clientTraceId: string;
  createdStatus: number;
  continuedStatus: number;
  failedLogInStatus: number;
  scrape: string;
  spans: ReportedSpan[];
}

const root = join(import.meta.dirname, '..', '..', '..');
const bin = join(root, 'node_modules', '.bin');
const createRoute = 'POST /v1/{parent=organizations/*/boards/*}/tasks';

async function observeStack(env: Record<string, string>): Promise<Report> {
  const { stdout } = await promisify(execFile)(join(bin, 'tsx'), [join(import.meta.dirname, 'fixtures', 'observed-stack.ts')], {
    cwd: root,
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, METRICS_PORT: String(await freePort()), LOG_LEVEL: 'warn', ...env },
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Report;
}

/** The spans of the trace of the create request whose edge span matches `which`. */
function createTrace(report: Report, which: (edge: ReportedSpan) => boolean) {
  const edge = report.spans.find((span) => span.kind === SpanKind.SERVER && span.name === createRoute && which(span));
  expect(edge, 'the edge SERVER span of POST .../tasks').toBeDefined();
  const spans = report.spans.filter((span) => span.traceId === edge!.traceId);
  const find = (kind: SpanKind, service: string, predicate: (span: ReportedSpan) => boolean) =>
    spans.find((span) => span.kind === kind && span.serviceName === service && predicate(span));
  return { edge: edge!, spans, find };
}

function expectOneTraceAcrossTheMesh(report: Report) {
  expect(report.createdStatus).toBe(200);
  const { edge, spans, find } = createTrace(report, (span) => span.traceId !== report.clientTraceId);
  expect(edge.serviceName).toBe('edge');
  expect(edge.parentSpanId).toBeUndefined();
  const edgeClient = find(SpanKind.CLIENT, 'edge', (span) => span.name === 'taskmesh.task.v1.TaskService/CreateTask');
  expect(edgeClient?.parentSpanId).toBe(edge.spanId);
  const taskServer = find(SpanKind.SERVER, 'task', (span) => span.name.endsWith('TaskService/CreateTask'));
  expect(taskServer?.parentSpanId).toBe(edgeClient?.spanId);
  const membershipClient = find(SpanKind.CLIENT, 'task', (span) => span.name.endsWith('OrgService/GetMembership'));
  expect(membershipClient).toBeDefined();
  const membershipServer = find(SpanKind.SERVER, 'org', (span) => span.name.endsWith('OrgService/GetMembership'));
  expect(membershipServer?.parentSpanId).toBe(membershipClient?.spanId);
  expect(find(SpanKind.CLIENT, 'task', (span) => span.scope === '@opentelemetry/instrumentation-pg')).toBeDefined();
  expect(find(SpanKind.CLIENT, 'org', (span) => span.scope === '@opentelemetry/instrumentation-pg')).toBeDefined();
  const publish = find(SpanKind.PRODUCER, 'task', (span) => span.name === 'taskmesh.task.v1.TaskCreated publish');
  expect(publish).toBeDefined();
  for (const consumer of ['audit', 'notify']) {
    const consumed = find(SpanKind.CONSUMER, consumer, () => true);
    expect(consumed, `${consumer}'s CONSUMER span in the request's trace`).toBeDefined();
    // Under the relay's publish of one of the request's events.
    const parent = spans.find((span) => span.spanId === consumed?.parentSpanId);
    expect(parent?.kind).toBe(SpanKind.PRODUCER);
  }
  // Every span of the trace is one service's: none carries the process's name (identity shows when the task
  // service fetches the JWKS on its first request).
  const services = new Set(spans.map((span) => span.serviceName));
  for (const service of ['edge', 'task', 'org', 'board', 'audit', 'notify']) expect(services).toContain(service);
  expect([...services].filter((service) => !['edge', 'identity', 'task', 'org', 'board', 'audit', 'notify', 'webhook', 'analytics'].includes(service))).toEqual([]);
}

function expectClientTraceContinued(report: Report) {
  expect(report.continuedStatus).toBe(200);
  const { edge, find } = createTrace(report, (span) => span.traceId === report.clientTraceId);
  expect(edge.parentSpanId).toBe('00f067aa0ba902b7');
  expect(find(SpanKind.SERVER, 'task', (span) => span.name.endsWith('TaskService/CreateTask'))).toBeDefined();
  expect(find(SpanKind.CONSUMER, 'audit', () => true)).toBeDefined();
}

/** `name{labels} value` lines of the exposition, without comments. */
function samples(scrape: string): { name: string; labels: string; value: number }[] {
  return scrape
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      // Label values may hold braces (http_route="/v1/{parent=organizations/*}/boards").
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)/.exec(line)!;
      return { name: match[1]!, labels: match[2] ?? '', value: Number(match[3]) };
    });
}

/** Metric names a PromQL expression reads: what is left after strings, selectors, ranges, groupings, numbers and functions. */
function metricNamesIn(expression: string): string[] {
  const functions = new Set(['sum', 'max', 'min', 'avg', 'count', 'rate', 'irate', 'increase', 'histogram_quantile', 'clamp_min', 'clamp_max', 'abs', 'absent', 'time']);
  const operators = new Set(['or', 'and', 'unless', 'bool']);
  const bare = expression
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, '');
  return [...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((word) => !functions.has(word) && !operators.has(word));
}

let inProcess: Report;
let jetStream: Report | undefined;

describe('an embedded stack with the in-process event bus', () => {
  let report: Report;
  beforeAll(async () => {
    report = inProcess = await observeStack({});
  }, 180_000);

  it('gives one REST create one trace: edge, task, org GetMembership, PostgreSQL, relay publish, audit and notify', () => {
    expect(report.events).toBe('in-process');
    expectOneTraceAcrossTheMesh(report);
  });

  it("continues a client's traceparent", () => {
    expectClientTraceContinued(report);
  });

  it('serves every metric family on one endpoint, each series labelled with its service', () => {
    const all = samples(report.scrape);
    const series = (name: string, labels: RegExp = /.*/) => all.filter((s) => s.name === name && labels.test(s.labels));
    const total = (name: string, labels?: RegExp) => series(name, labels).reduce((sum, s) => sum + s.value, 0);
    expect(total('rpc_server_duration_count', /service="task".*rpc_method="CreateTask".*rpc_grpc_status_code="0"/)).toBe(2);
    expect(total('rpc_client_duration_count', /service="task".*rpc_method="GetMembership"/)).toBeGreaterThanOrEqual(1);
    expect(total('http_server_request_duration_count', /http_response_status_code="401",http_route="\/v1\/auth:logIn"/)).toBe(1);
    expect(total('http_server_request_duration_count', /http_route="\/v1\/\{parent=organizations\/\*\/boards\/\*\}\/tasks"/)).toBe(4);
    expect(total('db_client_operation_duration_count', /service="task"/)).toBeGreaterThan(0);
    for (const service of ['identity', 'org', 'board', 'task', 'audit', 'notify']) {
      expect(series('db_client_connection_max', new RegExp(`service="${service}"`))[0]?.value).toBeGreaterThan(0);
      expect(series('db_client_connection_count', new RegExp(`service="${service}".*state="idle"`))).toHaveLength(1);
      expect(series('db_client_connection_pending_requests', new RegExp(`service="${service}"`))[0]?.value).toBe(0);
    }
    for (const service of ['identity', 'org', 'board', 'task']) expect(series('taskmesh_outbox_backlog', new RegExp(`service="${service}"`))).toHaveLength(1);
    expect(series('taskmesh_outbox_oldest_age', /service="task"/)[0]?.value).toBeGreaterThanOrEqual(0);
    expect(total('taskmesh_outbox_publish_lag_count', /service="task"/)).toBeGreaterThanOrEqual(2);
    expect(total('taskmesh_events_deliveries_total', /service="audit".*outcome="handled"/)).toBeGreaterThan(0);
    expect(total('taskmesh_identity_login_failures_total', /service="identity"/)).toBe(1);
    expect(total('taskmesh_cache_lookups_total', /service="task",cache="membership",result="hit"/)).toBeGreaterThan(0);
    expect(total('taskmesh_cache_lookups_total', /service="task",cache="membership",result="miss"/)).toBeGreaterThan(0);
    expect(total('taskmesh_cache_lookups_total', /cache="jwks"/)).toBeGreaterThan(0);
    // The one process's resource, once.
    expect(series('target_info')).toHaveLength(1);
  });

});

describe('an embedded stack on JetStream', async () => {
  const natsUrl = await natsForTests();
  let report: Report;
  beforeAll(async () => {
    if (!natsUrl) return;
    const streams = uniqueStreamSettings();
    try {
      report = jetStream = await observeStack({
        NATS_URL: natsUrl!,
        EVENTS_STREAM: streams.stream,
        EVENTS_SUBJECT_PREFIX: streams.subjectPrefix,
        EVENTS_STREAM_MAX_BYTES: String(streams.maxBytes),
      });
    } finally {
      const nc = await connect({ servers: natsUrl! });
      const jsm = await jetstreamManager(nc);
      for (const name of [streams.stream, `${streams.stream}_DLQ`]) await jsm.streams.delete(name).catch(() => undefined);
      await nc.close();
    }
  }, 180_000);

  it.skipIf(!natsUrl)('carries the trace through the JetStream headers to audit and notify', () => {
    expect(report.events).toBe('jetstream');
    expectOneTraceAcrossTheMesh(report);
    expectClientTraceContinued(report);
    const all = samples(report.scrape);
    // JetStream's num_pending of the durable consumers, read at the scrape.
    expect(all.filter((s) => s.name === 'taskmesh_events_consumer_pending' && /messaging_consumer_group_name="audit"/.test(s.labels))).toHaveLength(1);
  });
});

describe('deploy/observability', () => {
  it('has a Grafana dashboard and PrometheusRule alerts that use only exported metric names', () => {
    const scrapes = [inProcess.scrape, ...(jetStream ? [jetStream.scrape] : [])];
    const exported = new Set(scrapes.flatMap((scrape) => samples(scrape).map((s) => s.name)));
    if (!jetStream) {
      // Without NATS here the JetStream-only family cannot be scraped; the run says so.
      console.warn('JetStream not reachable: taskmesh_events_consumer_pending not checked against a scrape');
      exported.add('taskmesh_events_consumer_pending');
    }
    const dir = join(root, 'deploy', 'observability');
    const dashboard = JSON.parse(readFileSync(join(dir, 'grafana-dashboard.json'), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
    const rules = parseYaml(readFileSync(join(dir, 'prometheus-rules.yaml'), 'utf8')) as {
      apiVersion: string;
      kind: string;
      spec: { groups: { name: string; rules: { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] }[] };
    };
    expect(rules.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rules.kind).toBe('PrometheusRule');
    const expressions = [
      ...dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))),
      ...rules.spec.groups.flatMap((group) => group.rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr }))),
    ];
    expect(expressions.length).toBeGreaterThan(10);
    const missing = expressions.flatMap(({ where, expr }) => metricNamesIn(expr).filter((name) => !exported.has(name)).map((name) => `${where}: ${name}`));
    expect(missing).toEqual([]);
    const alerts = rules.spec.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    for (const alert of ['TaskmeshHighErrorRate', 'TaskmeshDatabasePoolNearlyFull', 'TaskmeshConsumerLag', 'TaskmeshOutboxBacklog', 'TaskmeshDeadLetters', 'TaskmeshStorageErrors']) {
      expect(alerts).toContain(alert);
    }
    for (const group of rules.spec.groups) for (const rule of group.rules) expect(rule.annotations?.summary, rule.alert).toBeTruthy();
  });
});
