import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/hanging-close.ts', import.meta.url));

/** Starts the fixture with SHUTDOWN_GRACE_SECONDS=1; resolves once it has installed its signal handlers. */
async function startHanging() {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: { ...process.env, SHUTDOWN_GRACE_SECONDS: '1', LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', () => reject(new Error('fixture exited early')));
  });
  return { child, exited };
}

describe('onShutdownSignal', () => {
  it('exits by force (code 1) after the grace period when close() hangs', async () => {
    const { child, exited } = await startHanging();
    child.kill('SIGTERM');
    expect(await exited).toBe(1);
  });

  it('exits at once (code 130) on a second signal', async () => {
    const { child, exited } = await startHanging();
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
  });
});
