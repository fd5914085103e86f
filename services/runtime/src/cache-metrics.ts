import type { Attributes } from '@opentelemetry/api';
import { taskmeshMeter } from './metrics.ts';

// The caches' metrics, read at each scrape from plain counters (a lookup costs an increment, not a record):
//   taskmesh.cache.lookups{service, cache, result=hit|miss}   counter
//   taskmesh.cache.evictions{service, cache}                  counter: entries dropped to stay within the budget
//   taskmesh.cache.entries{service, cache}                    gauge
//   taskmesh.cache.bytes{service, cache}                      gauge, for caches budgeted in bytes
// Every cache is a GenerationalCache (generational-cache.ts), registered by the server that composes it.

/** What the metrics read of a cache (a GenerationalCache). */
export interface ObservedCache {
  readonly name: string;
  readonly unit: 'bytes' | 'entries';
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly size: number;
  readonly cost: number;
}

interface Registered {
  cache: ObservedCache;
  labels: Attributes;
  hit: Attributes;
  miss: Attributes;
}

const registered = new Set<Registered>();
let instruments = false;

/** Made on first use, after startTelemetry installed the MeterProvider (see metrics.ts). */
function ensureInstruments(): void {
  if (instruments) return;
  instruments = true;
  const meter = taskmeshMeter();
  const lookupCounter = meter.createObservableCounter('taskmesh.cache.lookups', { description: 'Cache lookups by cache and result (hit, miss)' });
  const evictionCounter = meter.createObservableCounter('taskmesh.cache.evictions', { description: 'Cache entries dropped to stay within the budget' });
  const entries = meter.createObservableGauge('taskmesh.cache.entries', { description: 'Entries held by a cache' });
  const bytes = meter.createObservableGauge('taskmesh.cache.bytes', { description: 'Bytes held by a cache budgeted in bytes' });
  meter.addBatchObservableCallback(
    (result) => {
      for (const { cache, labels, hit, miss } of registered) {
        result.observe(lookupCounter, cache.hits, hit);
        result.observe(lookupCounter, cache.misses, miss);
        result.observe(evictionCounter, cache.evictions, labels);
        result.observe(entries, cache.size, labels);
        if (cache.unit === 'bytes') result.observe(bytes, cache.cost, labels);
      }
    },
    [lookupCounter, evictionCounter, entries, bytes],
  );
}

/**
 * Reports `caches` as `service`'s until the returned function is called (when the service stops). Each cache's
 * name is its `cache` label; one name per service.
 */
export function observeCaches(service: string, caches: readonly ObservedCache[]): () => void {
  ensureInstruments();
  const entries = caches.map((cache): Registered => {
    const labels = { service, cache: cache.name };
    return { cache, labels, hit: { ...labels, result: 'hit' }, miss: { ...labels, result: 'miss' } };
  });
  for (const entry of entries) registered.add(entry);
  return () => {
    for (const entry of entries) registered.delete(entry);
  };
}
