import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Dockerfile lint without a linter binary: hadolint is not in Debian (bookworm), and the npm package
// `hadolint` is only a wrapper around a hadolint binary it does not ship. So the rules we want from it (and
// from the issue) are checked here; the hadolint rule ids are given where one exists. What the service image
// runs is exercised by compiled-services.test.ts.
const root = join(import.meta.dirname, '..', '..', '..');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

function parseDockerfile(path: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  readFileSync(join(root, path), 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      const line = raw.trim();
      if (!pending && (line === '' || line.startsWith('#'))) return;
      if (!pending) start = index + 1;
      pending += ` ${line.replace(/\\$/, '')}`;
      if (line.endsWith('\\')) return;
      const [, keyword, args] = /^\s*(\w+)\s+(.*)$/.exec(pending)!;
      instructions.push({ keyword: keyword!.toUpperCase(), args: args!.trim(), line: start });
      pending = '';
    });
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/);
      stages.push({ image: image!.replace(/\$\{?(\w+)\}?/g, (_, arg: string) => args.get(arg) ?? `\${${arg}}`), ...(as?.toUpperCase() === 'AS' ? { name } : {}), instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name, value] = instruction.args.split('=');
      if (value !== undefined) args.set(name!, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const dockerfiles = ['deploy/Dockerfile', 'envoy/Dockerfile'];

describe.each(dockerfiles)('%s', (path) => {
  const { stages } = parseDockerfile(path);
  const final = stages.at(-1)!;
  const all = stages.flatMap((s) => s.instructions);

  it('pins every base image to a version, never latest (DL3006, DL3007)', () => {
    const names = new Set(stages.map((s) => s.name).filter(Boolean));
    for (const { image } of stages) {
      if (names.has(image)) continue;
      expect(image, image).toMatch(/^[\w./-]+:v?\d+(\.\d+){1,2}[\w.-]*$/);
      expect(image).not.toMatch(/:latest$/);
    }
  });

  it('runs as a non-root user (DL3002)', () => {
    const user = final.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
    expect(user, 'USER in the final stage').toBeDefined();
    expect(user!.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('uses the exec form for CMD and ENTRYPOINT, COPY instead of ADD, absolute WORKDIRs (DL3025, DL3020, DL3000)', () => {
    for (const i of all.filter((x) => x.keyword === 'CMD' || x.keyword === 'ENTRYPOINT')) expect(() => JSON.parse(i.args), `line ${i.line}`).not.toThrow();
    expect(all.filter((i) => i.keyword === 'ADD')).toEqual([]);
    for (const i of all.filter((x) => x.keyword === 'WORKDIR')) expect(i.args.startsWith('/'), `line ${i.line}`).toBe(true);
  });

  it('declares its health check (probes in Kubernetes) and keeps secrets out of ENV', () => {
    expect(final.instructions.some((i) => i.keyword === 'HEALTHCHECK')).toBe(true);
    for (const i of all.filter((x) => x.keyword === 'ENV')) expect(i.args, `line ${i.line}`).not.toMatch(/(PASSWORD|SECRET|TOKEN|_KEY|KEK)\s*=/i);
  });

  it('installs Debian packages without recommends and without keeping the lists (DL3015, DL3009)', () => {
    for (const i of all.filter((x) => x.keyword === 'RUN' && /apt-get install/.test(x.args))) {
      expect(i.args).toContain('--no-install-recommends');
      expect(i.args).toContain('rm -rf /var/lib/apt/lists');
    }
  });

  it('copies only from earlier stages', () => {
    stages.forEach((stage, index) => {
      for (const i of stage.instructions.filter((x) => x.keyword === 'COPY' && x.args.startsWith('--from='))) {
        const from = /--from=(\S+)/.exec(i.args)![1];
        expect(stages.slice(0, index).some((s) => s.name === from), `line ${i.line}: ${from}`).toBe(true);
      }
    });
  });
});

describe('deploy/Dockerfile (the services)', () => {
  const { stages } = parseDockerfile('deploy/Dockerfile');
  const final = stages.at(-1)!;
  const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);

  it('compiles TypeScript in a build stage and runs the JavaScript with node on a Node 24 slim base', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image).toMatch(/^node:24\.\d+\.\d+-\w+-slim$/);
    expect(runs(stages[0]!).join('\n')).toContain('scripts/compile-services.ts');
    const cmd = JSON.parse(final.instructions.find((i) => i.keyword === 'CMD')!.args) as string[];
    expect(cmd.join(' ')).toMatch(/exec node .*dist\/services\/\$\{SERVICE\}\/main\.js/);
    expect(final.instructions.map((i) => i.args).join('\n')).not.toMatch(/\btsx\b|typescript/);
  });

  it('installs production dependencies only, without install scripts, in the runtime stage', () => {
    const install = runs(final).find((r) => r.includes('npm ci'));
    expect(install).toBeDefined();
    expect(install).toContain('--omit=dev');
    expect(install).toContain('--ignore-scripts');
    expect(install).toContain('npm cache clean');
    expect(final.instructions.find((i) => i.keyword === 'ENV')?.args).toContain('NODE_ENV=production');
  });

  it('writes nothing outside /tmp at run time (read-only root filesystem)', () => {
    const env = final.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' ');
    expect(env).toContain('TASKMESH_DATA_DIR=/tmp/taskmesh');
  });
});
