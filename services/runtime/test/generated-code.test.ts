import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const buf = join(root, 'node_modules', '.bin', 'buf');

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

describe('gen/ is what buf generates from proto/', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'taskmesh-gen-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  // Every directory buf.gen.yaml writes into: ts-proto's code, the typed REST client, the OpenAPI document.
  const outputs = ['gen/ts', 'gen/client', 'gen/openapi'];

  it('has the same generated files (TypeScript, REST client, OpenAPI), byte for byte', () => {
    execFileSync(buf, ['generate', '-o', scratch], { cwd: root, stdio: 'pipe' });
    const fresh = listFiles(join(scratch, 'gen')).map((f) => relative(scratch, f)).sort();
    const committed = outputs
      .flatMap((dir) => (existsSync(join(root, dir)) ? listFiles(join(root, dir)) : []))
      .map((f) => relative(root, f))
      .sort();
    for (const dir of outputs) expect(fresh.some((f) => f.startsWith(`${dir}/`)), `buf generate wrote nothing into ${dir}`).toBe(true);
    expect(committed).toEqual(fresh);
    for (const file of fresh) {
      expect(readFileSync(join(root, file), 'utf8'), `${file} is stale: run npm run generate`).toBe(
        readFileSync(join(scratch, file), 'utf8'),
      );
    }
  });

  it('has the same descriptor set', () => {
    const out = join(scratch, 'descriptor.binpb');
    execFileSync(buf, ['build', '-o', out], { cwd: root, stdio: 'pipe' });
    expect(Buffer.compare(readFileSync(out), readFileSync(join(root, 'gen', 'descriptor.binpb'))), 'gen/descriptor.binpb is stale: run npm run generate').toBe(0);
  });

  it('buf lint is clean', () => {
    expect(() => execFileSync(buf, ['lint'], { cwd: root, stdio: 'pipe' })).not.toThrow();
  });
});
