import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restApi } from '../conformance/rest-api.ts';
import { startConformanceTarget, type ConformanceTarget } from '../conformance/target.ts';
import { runRestFuzz } from './rest-fuzz.ts';

// Seeded, so a failure names its case and replays; `npm run fuzz -- --runs N --seed S` for long runs.
const seed = Number(process.env.FUZZ_SEED ?? 20261204);
const runs = Number(process.env.FUZZ_RUNS ?? 5_000);

let target: ConformanceTarget;

beforeAll(async () => {
  // Services log unexpected errors at 'error'; the fuzz fails on them anyway, through their 500s.
  target = await startConformanceTarget({ LOG_LEVEL: 'fatal' });
}, 120_000);
afterAll(async () => {
  await target?.close();
});

describe('REST fuzz over every HTTP binding (real stack)', () => {
  it(`answers ${runs} malformed requests without a 5xx or a reset, and still serves afterwards`, async () => {
    const figures = await runRestFuzz({ baseUrl: target.baseUrl, runs, seed });
    expect(figures.cases).toBe(runs);
    expect(figures.transportErrors).toBe(0);
    expect(Object.keys(figures.statuses).filter((s) => Number(s) >= 500)).toEqual([]);

    const api = restApi(target.baseUrl);
    expect((await api.get('/healthz')).status).toBe(200);
    const signUp = await api.post('/v1/auth:signUp', { email: `after-fuzz-${Date.now()}@example.com`, password: 'correct horse battery', displayName: 'After' });
    expect(signUp.status).toBe(200);
    expect((await api.post('/v1/organizations', { displayName: 'After the fuzz' }, { token: signUp.json.accessToken })).status).toBe(200);
  }, 300_000);
});
