// `npm run chaos`: faults under load on the production shape (private PostgreSQL + NATS, services as processes).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runChaos } from './chaos.ts';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    lanes: { type: 'string', default: '8' },
    'steady-seconds': { type: 'string', default: '20' },
    'nats-down-seconds': { type: 'string', default: '30' },
    'postgres-down-seconds': { type: 'string', default: '5' },
    victim: { type: 'string', default: 'task' },
  },
});
const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'taskmesh-chaos-'));
const report = await runChaos({
  dir,
  lanes: Number(values.lanes),
  steadyMs: Number(values['steady-seconds']) * 1_000,
  natsDownMs: Number(values['nats-down-seconds']) * 1_000,
  postgresDownMs: Number(values['postgres-down-seconds']) * 1_000,
  victim: values.victim!,
});

const lines = ['', `chaos done: ${report.stats.summary()}`];
for (const f of report.faults) {
  const failures = Object.entries(f.failures).map(([s, n]) => `${s}×${n}`).join(' ') || 'none';
  lines.push(
    `  ${f.fault.padEnd(22)} ${((f.endedAt - f.startedAt) / 1_000).toFixed(1)} s: calls ${f.calls}, failed ${failures}, slowest ${f.slowestMs} ms, recovered ${(f.recoveryMs / 1_000).toFixed(1)} s after`,
  );
  for (const p of f.problems) lines.push(`    problem: ${p}`);
}
lines.push(
  `  acknowledged creates ${report.acknowledged}, lost ${report.lostWrites}; audit TaskCreated missing ${report.auditMissing}, duplicated ${report.auditDuplicated}`,
);
for (const p of report.problems) lines.push(`  problem: ${p}`);
const problems = report.problems.length + report.faults.reduce((n, f) => n + f.problems.length, 0) + report.lostWrites + report.auditMissing + report.auditDuplicated;
lines.push(problems === 0 ? '  PASS' : `  FAIL (${problems} problems; logs under ${dir})`, '');
process.stdout.write(lines.join('\n'));
process.exit(problems === 0 ? 0 : 1);
