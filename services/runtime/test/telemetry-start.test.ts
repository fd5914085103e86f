import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { shutdownTelemetry, startTelemetry } from '../src/telemetry.ts';

describe('startTelemetry', () => {
  it('starts once per process: a later start (another embedded service) keeps the first configuration', async () => {
    const first = new InMemorySpanExporter();
    const firstProcessor = new SimpleSpanProcessor({ exporter: first });
    const second = new InMemorySpanExporter();
    await startTelemetry({ serviceName: 'taskmesh', spanProcessors: [firstProcessor] });
    await startTelemetry({ serviceName: 'identity', spanProcessors: [new SimpleSpanProcessor({ exporter: second })] });

    trace.getTracer('telemetry-start-test').startSpan('work').end();
    await firstProcessor.forceFlush();
    expect(first.getFinishedSpans().map((span) => span.resource.attributes['service.name'])).toEqual(['taskmesh']);
    expect(second.getFinishedSpans()).toEqual([]);

    await shutdownTelemetry();
    await expect(shutdownTelemetry()).resolves.toBeUndefined();
  });
});
