#!/usr/bin/env node
// Runs the buf CLI from its platform package. The project depends on @bufbuild/buf-linux-x64 directly
// instead of @bufbuild/buf, because the registry these machines reach lacks buf's other platform packages
// and npm ci then refuses a lockfile that doesn't list them.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const platform = { linux: 'linux', darwin: 'darwin', win32: 'win32' }[process.platform] ?? process.platform;
const arch = { x64: 'x64', arm64: platform === 'linux' ? 'aarch64' : 'arm64' }[process.arch] ?? process.arch;
const pkg = `@bufbuild/buf-${platform}-${arch}`;
let binary;
try {
  binary = require.resolve(`${pkg}/bin/buf${process.platform === 'win32' ? '.exe' : ''}`);
} catch {
  console.error(`buf: ${pkg} is not installed; add it as a dev dependency for this platform`);
  process.exit(1);
}
const result = spawnSync(binary, process.argv.slice(2), { stdio: 'inherit' });
process.exit(result.status ?? 1);
