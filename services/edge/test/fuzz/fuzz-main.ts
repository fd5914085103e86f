import { parseArgs } from 'node:util';
import { startConformanceTarget } from '../conformance/target.ts';
import { runRestFuzz } from './rest-fuzz.ts';

// `npm run fuzz -- --runs N [--seed S]`: the REST fuzz against a stack of its own (real PostgreSQL, as the
// tests start it), or against TASKMESH_BASE_URL when set. Prints the figures as JSON; exits 1 on a 5xx or reset.
// Services' own logs (mail sent, ...) would drown the figures.
process.env.LOG_LEVEL ??= 'error';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5000' },
    seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
  },
});
const runs = Number(values.runs);
const seed = Number(values.seed);
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed)) {
  process.stderr.write('usage: npm run fuzz -- --runs N [--seed S]\n');
  process.exit(2);
}

const target = await startConformanceTarget({ LOG_LEVEL: 'fatal' });
let failed = false;
try {
  process.stderr.write(`fuzzing ${target.baseUrl} with ${runs} cases, seed ${seed}\n`);
  const figures = await runRestFuzz({ baseUrl: target.baseUrl, runs, seed, onProgress: (done) => process.stderr.write(`  ${done} cases\n`) });
  const health = await fetch(`${target.baseUrl}/healthz`);
  process.stdout.write(`${JSON.stringify({ seed, ...figures, healthzAfter: health.status, casesPerSecond: Math.round((figures.cases * 1000) / figures.durationMs) }, null, 2)}\n`);
  failed = health.status !== 200;
} catch (error) {
  failed = true;
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await target.close();
}
process.exit(failed ? 1 : 0);
