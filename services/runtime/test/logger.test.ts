import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, requestLogger } from '../src/logger.ts';
import { shutdownTelemetry, startTelemetry } from '../src/telemetry.ts';

type Line = Record<string, unknown>;

function capturedLogger(service = 'billing') {
  const lines: Line[] = [];
  const log = createLogger(service, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
  return { log, lines };
}

describe('createLogger', () => {
  // The real SDK, so the active context comes from the same context manager services run with.
  beforeAll(() =>
    startTelemetry({
      serviceName: 'logger-test',
      spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
    }),
  );
  afterAll(() => shutdownTelemetry());
  // The suite runs with LOG_LEVEL=warn (vitest.config.ts); these tests are about the default, info.
  beforeEach(() => {
    delete process.env.LOG_LEVEL;
  });
  afterEach(() => {
    delete process.env.LOG_LEVEL;
  });

  it('writes JSON lines naming the service, with no trace ids outside a span', () => {
    const { log, lines } = capturedLogger();
    log.info({ orderId: 7 }, 'placed');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ service: 'billing', level: 'info', orderId: 7, msg: 'placed' });
    expect(lines[0]).not.toHaveProperty('trace_id');
    expect(lines[0]).not.toHaveProperty('span_id');
  });

  it('puts the active trace and span ids on lines logged inside a span, across awaits', async () => {
    const { log, lines } = capturedLogger();
    const ids = await trace.getTracer('logger-test').startActiveSpan('handle', async (span) => {
      await new Promise((resolve) => setImmediate(resolve));
      log.info('inside');
      span.end();
      return span.spanContext();
    });
    log.info('after');
    expect(ids.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(lines[0]).toMatchObject({ msg: 'inside', trace_id: ids.traceId, span_id: ids.spanId });
    expect(lines[1]).not.toHaveProperty('trace_id');
  });

  it('redacts passwords and tokens at the top level and in nested objects, keeping the rest', () => {
    const { log, lines } = capturedLogger();
    log.warn(
      {
        password: 'hunter2-hunter2',
        request: { email: 'a@example.com', newPassword: 'correct horse', token: 'reset-123' },
        reply: { session: { accessToken: 'eyJ.a.b', refresh_token: 'r-456' } },
        metadata: { authorization: 'Bearer eyJ.c.d' },
      },
      'login',
    );
    const line = JSON.stringify(lines[0]);
    for (const secret of ['hunter2', 'correct horse', 'reset-123', 'eyJ', 'r-456']) {
      expect(line).not.toContain(secret);
    }
    expect(lines[0]).toMatchObject({
      password: '[redacted]',
      request: { email: 'a@example.com', newPassword: '[redacted]', token: '[redacted]' },
      reply: { session: { accessToken: '[redacted]', refresh_token: '[redacted]' } },
      metadata: { authorization: '[redacted]' },
    });
  });

  it('requestLogger adds the request id to every line of the request', () => {
    const { log, lines } = capturedLogger();
    const forRequest = requestLogger(log, { requestId: 'req-42', method: '/taskmesh.identity.v1.IdentityService/Login' });
    forRequest.info({ password: 'still secret' }, 'handled');
    expect(lines[0]).toMatchObject({
      service: 'billing',
      requestId: 'req-42',
      method: '/taskmesh.identity.v1.IdentityService/Login',
      password: '[redacted]',
    });
  });

  it('takes its level from LOG_LEVEL and refuses an unknown one, naming the variable', () => {
    process.env.LOG_LEVEL = 'warn';
    const { log, lines } = capturedLogger();
    log.info('dropped');
    log.warn('kept');
    expect(lines.map((line) => line.msg)).toEqual(['kept']);

    process.env.LOG_LEVEL = 'verbose';
    expect(() => createLogger('billing')).toThrow(/LOG_LEVEL/);
  });
});
