// Compiles a deployable service to plain JavaScript for its image: `node scripts/compile-services.ts
// --out dist identity` writes dist/services/identity/main.js (the service), dlq.js (the dead-letter
// command) and the service's own admin commands, with their shared chunks. The workspace code (@taskmesh/*, gen/ts) is bundled; every npm package
// stays an import resolved from node_modules at run time, so the image needs only `npm ci --omit=dev`.
//
// The bundle sits at the depth of its source (services/<name>/src/main.ts -> dist/services/<name>/main.js),
// so paths the code resolves against import.meta.url (gen/descriptor.binpb, gen/openapi) land on the gen/
// beside dist/. Code splitting keeps main.ts's order: telemetry's hook is registered before the dynamic
// import that loads grpc-js and pg (in a chunk of their own), as under tsx.
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const root = resolve(import.meta.dirname, '..');

/** The deployables: every services/<name> with a src/main.ts, except the one-process launcher. */
export function deployableServices(): string[] {
  return ['identity', 'org', 'board', 'task', 'audit', 'share', 'notify', 'attachment', 'webhook', 'analytics', 'edge'].filter((name) =>
    existsSync(join(root, 'services', name, 'src', 'main.ts')),
  );
}

/** Admin commands compiled into a service's image beside main.js, run with `kubectl exec … node dist/…`. */
const adminCommands: Record<string, Record<string, string>> = {
  identity: {
    'rotate-signing-key': 'services/identity/src/rotate-signing-key.ts',
    // The KEK rotation's re-seal: identity's signing keys and every webhook secret (same DATABASE_URL).
    'rotate-kek': 'services/identity/src/rotate-kek.ts',
    admin: 'services/identity/src/platform-admin-main.ts',
  },
};

/** npm packages stay external; only the workspace's own packages are compiled in. */
const packagesStayExternal: Plugin = {
  name: 'packages-stay-external',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@taskmesh/') || args.path.startsWith('node:')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

export async function compileService(service: string, outRoot: string): Promise<string> {
  const outdir = join(outRoot, 'services', service);
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: {
      main: join(root, 'services', service, 'src', 'main.ts'),
      dlq: join(root, 'services', 'runtime', 'src', 'dead-letters-main.ts'),
      ...Object.fromEntries(Object.entries(adminCommands[service] ?? {}).map(([name, path]) => [name, join(root, path)])),
    },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    sourcemap: 'linked',
    // Chunks stay beside the entries (esbuild's default): import.meta.url-relative paths resolve alike in both.
    plugins: [packagesStayExternal],
    logLevel: 'warning',
  });
  return outdir;
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string', default: 'dist' } }, allowPositionals: true });
  const services = positionals.length > 0 ? positionals : deployableServices();
  for (const service of services) {
    if (!deployableServices().includes(service)) throw new Error(`unknown service ${service}: one of ${deployableServices().join(', ')}`);
    const outdir = await compileService(service, resolve(values.out!));
    process.stdout.write(`compiled ${service} -> ${outdir}\n`);
  }
}
