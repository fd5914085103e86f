import type { Attributes, Counter } from '@opentelemetry/api';
import { currentService } from './current-service.ts';
import { AttributeSets, taskmeshMeter } from './metrics.ts';

// taskmesh.cache.lookups{service, cache, result=hit|miss}: how often a cache answered. The service is the one
// the lookup runs for (current-service.ts), so one cache implementation shared by several services of the
// embedded process still reports per service.
let counter: Counter | undefined;
const attributes = new AttributeSets<string>((key): Attributes => {
  const [service, cache, result] = key.split(' ', 3) as [string, string, string];
  return { service, cache, result };
});

/** Counts one lookup in `cache` (e.g. `membership`, `jwks`): `hit` when answered from it. */
export function recordCacheLookup(cache: string, hit: boolean): void {
  counter ??= taskmeshMeter().createCounter('taskmesh.cache.lookups', { description: 'Cache lookups by cache and result (hit, miss)' });
  counter.add(1, attributes.get(`${currentService() ?? 'unknown'} ${cache} ${hit ? 'hit' : 'miss'}`));
}
