import type { Attributes } from '@opentelemetry/api';
import type pg from 'pg';
import { AttributeSets, SECONDS_BUCKETS, taskmeshMeter } from './metrics.ts';

/**
 * The database metrics of one service's pool, in OpenTelemetry's database conventions: connections by state
 * (used, idle), requests waiting for a connection and the pool's maximum, read from the pg pool at each scrape
 * (nothing on the query path), and db.client.operation.duration of every query on the pool's connections,
 * with error.type on failures (the SQLSTATE, or `_OTHER` when no server answered: connection lost, timeout).
 *
 * The pg instrumentation records the same duration, but only where it also makes a span per statement, which
 * the services leave off on their hot paths (telemetry.ts); the few lines below time the query alone. Call it
 * as the pool is made (MikroORM's driverOptions.onPoolCreated), before its first connection. Returns the
 * function that stops the reporting.
 */
export function observeDatabasePool(pool: pg.Pool, service: string): () => void {
  const meter = taskmeshMeter();
  const base = { service, 'db.system.name': 'postgresql', 'db.client.connection.pool.name': service };
  const used = { ...base, 'db.client.connection.state': 'used' };
  const idle = { ...base, 'db.client.connection.state': 'idle' };
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    description: 'Connections of the pool by state (used, idle)',
    unit: '{connection}',
  });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    description: 'Requests waiting for a connection of the pool',
    unit: '{request}',
  });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', {
    description: 'Most connections the pool opens',
    unit: '{connection}',
  });
  const callback = (result: import('@opentelemetry/api').BatchObservableResult) => {
    result.observe(count, pool.totalCount - pool.idleCount, used);
    result.observe(count, pool.idleCount, idle);
    result.observe(pending, pool.waitingCount, base);
    result.observe(max, pool.options.max ?? 10, base);
  };
  meter.addBatchObservableCallback(callback, [count, pending, max]);

  const duration = meter.createHistogram('db.client.operation.duration', {
    description: 'Duration of database queries',
    unit: 's',
    advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
  });
  const failed = new AttributeSets<string>((errorType): Attributes => ({ service, 'db.system.name': 'postgresql', 'error.type': errorType }));
  const succeeded = { service, 'db.system.name': 'postgresql' };
  const timeQueries = (client: pg.PoolClient) => {
    const query = client.query as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = function timedQuery(this: pg.PoolClient, ...args: unknown[]) {
      const startedAt = performance.now();
      const result = query.apply(this, args);
      if (result instanceof Promise) {
        result.then(
          () => duration.record((performance.now() - startedAt) / 1_000, succeeded),
          (err: unknown) => {
            const code = (err as { code?: unknown } | undefined)?.code;
            duration.record((performance.now() - startedAt) / 1_000, failed.get(typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : '_OTHER'));
          },
        );
      }
      return result;
    };
  };
  pool.on('connect', timeQueries);
  return () => {
    meter.removeBatchObservableCallback(callback, [count, pending, max]);
    pool.off('connect', timeQueries);
  };
}
