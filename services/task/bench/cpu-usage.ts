import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Busy and total CPU seconds of the whole machine (every core), from /proc/stat. */
function machineCpuSeconds(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const ticks = values.map(Number);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const total = ticks.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / TICKS_PER_SECOND, total: total / TICKS_PER_SECOND };
}

/**
 * Where the CPU went during one run: seconds per watched process and for the whole machine, so a figure can
 * be read against what else (PostgreSQL, the load generator, other people's tests) was using the cores.
 */
export function startCpuWindow(pids: Record<string, number>): () => Record<string, number> {
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processCpuSeconds(pid)]));
  const machineBefore = machineCpuSeconds();
  return () => {
    const used: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) used[name] = processCpuSeconds(pid) - before[name]!;
    const machine = machineCpuSeconds();
    const watched = Object.values(used).reduce((a, b) => a + b, 0);
    used['machine busy'] = machine.busy - machineBefore.busy;
    used['rest (PostgreSQL, NATS, others)'] = used['machine busy'] - watched;
    used['machine capacity'] = machine.total - machineBefore.total;
    return used;
  };
}
