// `npm run soak [-- --minutes 15]`: the embedded stack under a mixed REST workload with idle gaps and bursts.
import { parseArgs } from 'node:util';
import { memoryGrowth, runSoak } from './soak.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '15' },
    'active-seconds': { type: 'string', default: '60' },
    // Longer than the longest interval on the request path at its default: signing-key reload, verified tokens (60 s).
    'idle-gap-seconds': { type: 'string', default: '75' },
    // Longer than the access-token verifier's JWKS max age (10 min); used once, when the run is long enough.
    'long-gap-seconds': { type: 'string', default: '630' },
    burst: { type: 'string', default: '30' },
    'burst-seconds': { type: 'string', default: '15' },
  },
});
const number = (name: keyof typeof values) => {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`--${name}: expected a number, got ${JSON.stringify(values[name])}\n`);
    process.exit(2);
  }
  return value;
};

const options = {
  minutes: number('minutes'),
  activeMs: number('active-seconds') * 1_000,
  idleGapMs: number('idle-gap-seconds') * 1_000,
  longGapMs: number('long-gap-seconds') * 1_000,
  burstConcurrency: Math.max(30, number('burst')),
  burstMs: number('burst-seconds') * 1_000,
};
process.stdout.write(
  `soak: ${options.minutes} min, load ${options.activeMs / 1_000} s / burst ${options.burstConcurrency} clients for ${options.burstMs / 1_000} s / idle ${options.idleGapMs / 1_000} s (once ${options.longGapMs / 1_000} s); ` +
    `database ${process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded'}\n`,
);
const report = await runSoak(options);
process.stdout.write(
  [
    '',
    `soak done: ${report.stats.summary()}`,
    `  acknowledged creates ${report.acknowledgedCreates}, WatchBoard events received ${report.watchEvents}`,
    `  memory ${memoryGrowth(report.memory)}`,
    ...report.stats.samples.map((s) => `  failure: ${s}`),
    '',
  ].join('\n'),
);
process.exit(report.stats.failed === 0 ? 0 : 1);
