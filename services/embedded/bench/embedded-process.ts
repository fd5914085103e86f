import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** `npm start` (services/embedded/src/main.ts) as a child process, as a user runs it. */
export interface EmbeddedProcess {
  child: ChildProcess;
  url: string;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs it when still running (clean-up on failure). */
  kill(): Promise<void>;
}

export async function startEmbeddedProcess(env: Record<string, string>, logFile: string, timeoutMs = 120_000): Promise<EmbeddedProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/embedded/src/main.ts'], {
    cwd: root,
    env: { ...process.env, EDGE_ACCESS_LOG: 'off', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  child.stderr!.pipe(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  let output = '';
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the stack did not start within ${timeoutMs} ms; see ${logFile}`)), timeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        log.write(chunk);
        output += chunk.toString();
        const match = /REST API\s+(http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`the stack exited (${code ?? signal}) before it started; see ${logFile}`));
      });
    });
    return { child, url, exited, kill };
  } catch (err) {
    await kill();
    throw err;
  }
}
