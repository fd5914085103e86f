import type { Counter } from '@opentelemetry/api';
import { taskmeshMeter } from '@taskmesh/runtime/metrics';

// Log-in failures (wrong e-mail or password) and refusals by the throttle, by the limit that refused
// (`pair`, `account` or `address`), for dashboards and alerts on credential stuffing.
let counters: { failures: Counter; throttled: Counter } | undefined;

function loginCounters() {
  return (counters ??= {
    failures: taskmeshMeter().createCounter('taskmesh.identity.login.failures', { description: 'Log-ins refused for a wrong e-mail or password' }),
    throttled: taskmeshMeter().createCounter('taskmesh.identity.login.throttled', { description: 'Log-ins refused by the throttle, by limit' }),
  });
}

const failureAttributes = { service: 'identity' };
const throttledAttributes = {
  pair: { service: 'identity', limit: 'pair' },
  account: { service: 'identity', limit: 'account' },
  address: { service: 'identity', limit: 'address' },
};

/** Puts the counters at zero at start, so they are exported before the first failure. */
export function initLoginCounters(): void {
  const { failures, throttled } = loginCounters();
  failures.add(0, failureAttributes);
  throttled.add(0, throttledAttributes.pair);
  throttled.add(0, throttledAttributes.account);
  throttled.add(0, throttledAttributes.address);
}

export function recordLoginFailure(): void {
  loginCounters().failures.add(1, failureAttributes);
}

export function recordLoginThrottled(limit: 'pair' | 'account' | 'address'): void {
  loginCounters().throttled.add(1, throttledAttributes[limit]);
}
