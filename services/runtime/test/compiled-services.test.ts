import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '@taskmesh/runtime/testing/test-database';
import { natsForTests, uniqueStreamSettings } from '@taskmesh/runtime/testing/test-nats';
import { freePort } from '@taskmesh/runtime/testing/ports';
import { compileService, deployableServices } from '../../../scripts/compile-services.ts';

// What the service image does (deploy/Dockerfile), without Docker: compile every service to JavaScript, install
// the production dependencies alone (`npm ci --omit=dev --ignore-scripts`, so a dev dependency needed at run
// time fails here), start each service with plain `node` from the compiled output against real PostgreSQL and
// JetStream, and pass the REST conformance suite through the compiled edge.
const root = join(import.meta.dirname, '..', '..', '..');
const grpcServices = ['identity', 'org', 'board', 'task', 'audit', 'share', 'notify', 'attachment', 'webhook', 'analytics'] as const;

interface Started {
  name: string;
  child: ChildProcess;
  lines: string[];
}

// JetStream is part of what the services run on; without it (and without TASKMESH_REQUIRE_NATS=1) this skips.
const natsUrl = await natsForTests();
let app: string;
let database: TestDatabase;
const started: Started[] = [];
const streams = uniqueStreamSettings();

/** The image's /app: dist/, gen/ assets, package files, production node_modules. */
function assembleImageTree(dir: string): void {
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(root, file), join(dir, file));
  // npm ci needs every workspace's package.json (the runtime stage copies them too); nothing else of them.
  for (const workspace of ['gen', ...readdirSync(join(root, 'services')).map((s) => `services/${s}`)]) {
    if (!existsSync(join(root, workspace, 'package.json'))) continue;
    mkdirSync(join(dir, workspace), { recursive: true });
    cpSync(join(root, workspace, 'package.json'), join(dir, workspace, 'package.json'));
  }
  cpSync(join(root, 'gen', 'descriptor.binpb'), join(dir, 'gen', 'descriptor.binpb'));
  cpSync(join(root, 'gen', 'openapi'), join(dir, 'gen', 'openapi'), { recursive: true });
  execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    stdio: 'pipe',
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
}

function start(name: string, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [join('dist', 'services', name, 'main.js')], {
    cwd: app,
    // Only what the container gets: no NODE_OPTIONS, no tsx loader, no PATH into the source tree's node_modules.
    env: { PATH: '/usr/bin:/bin', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running: Started = { name, child, lines: [] };
  started.push(running);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: not listening after 90 s; stderr: ${stderr}`)), 90_000);
    child.stdout!.on('data', (chunk) => {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        running.lines.push(line);
        if (/"msg":"(\w+ service (listening|running)|listening)"/.test(line)) {
          clearTimeout(timer);
          resolve(running);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited early with ${code}; stderr: ${stderr}`)));
  });
}

function stop(running: Started): Promise<number | null> {
  if (running.child.exitCode !== null) return Promise.resolve(running.child.exitCode);
  const exited = new Promise<number | null>((resolve) => running.child.once('exit', (code) => resolve(code)));
  running.child.kill('SIGTERM');
  return exited;
}

beforeAll(async () => {
  if (!natsUrl) return;
  app = mkdtempSync(join(tmpdir(), 'taskmesh-image-'));
  for (const service of deployableServices()) await compileService(service, join(app, 'dist'));
  assembleImageTree(app);
  database = await createTestDatabase();
}, 240_000);

afterAll(async () => {
  await Promise.all(started.map(stop));
  await database?.drop();
  if (natsUrl) {
    const nc = await connect({ servers: natsUrl });
    const jsm = await jetstreamManager(nc);
    for (const name of [streams.stream, `${streams.stream}_DLQ`]) await jsm.streams.delete(name).catch(() => undefined);
    await nc.close();
  }
  if (app) rmSync(app, { recursive: true, force: true });
});

describe.skipIf(!natsUrl)('the compiled services (what the image runs)', () => {
  it('ship no dev dependency and no TypeScript loader', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    for (const dev of ['tsx', 'typescript', 'vitest', 'esbuild', 'ts-proto', 'node']) expect(installed, dev).not.toContain(dev);
    // argon2's prebuilt binary loads without its install script.
    execFileSync(process.execPath, ['-e', "require('argon2')"], { cwd: app });
  });

  it(
    'start with node from dist/ on PostgreSQL and JetStream, pass the REST conformance suite through the compiled edge, and stop on SIGTERM',
    async () => {
      if (!database.databaseUrl) throw new Error('the compiled services need a real PostgreSQL (TEST_DATABASE_URL)');
      const ports = Object.fromEntries(await Promise.all(grpcServices.map(async (s) => [s, await freePort()] as const)));
      const common: Record<string, string> = {
        DATABASE_URL: database.databaseUrl,
        NATS_URL: natsUrl!,
        EVENTS_STREAM: streams.stream,
        EVENTS_SUBJECT_PREFIX: streams.subjectPrefix,
        EVENTS_STREAM_MAX_BYTES: String(streams.maxBytes),
        TASKMESH_DATA_DIR: join(app, 'data'),
        // Set for the identity service of this round (signing keys encrypted at rest); ignored before it.
        TASKMESH_KEK: randomBytes(32).toString('base64'),
        GRPC_HOST: '127.0.0.1',
        ARGON2_MEMORY_KIB: '1024',
        ARGON2_ITERATIONS: '1',
        // Every conformance file signs its users up from loopback: more than the default hourly limit.
        SIGNUP_MAX_PER_ADDRESS: '100000',
        RESET_MAX_PER_ADDRESS: '100000',
        ...Object.fromEntries(grpcServices.map((s) => [`${s.toUpperCase()}_ADDR`, `127.0.0.1:${ports[s]}`])),
      };
      // identity first: the others fetch its JWKS.
      await start('identity', { ...common, IDENTITY_PORT: String(ports.identity), METRICS_PORT: String(await freePort()) });
      await Promise.all(
        grpcServices
          .filter((s) => s !== 'identity')
          .map(async (s) => start(s, { ...common, [`${s.toUpperCase()}_PORT`]: String(ports[s]), METRICS_PORT: String(await freePort()) })),
      );
      const edgePort = await freePort();
      await start('edge', { ...common, EDGE_HOST: '127.0.0.1', EDGE_PORT: String(edgePort), EDGE_ACCESS_LOG: 'off', METRICS_PORT: String(await freePort()) });

      const suite = spawn(
        process.execPath,
        [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'services/edge/test/conformance', '--reporter=dot'],
        { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', TASKMESH_BASE_URL: `http://127.0.0.1:${edgePort}` }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      suite.stdout!.on('data', (d) => (output += String(d)));
      suite.stderr!.on('data', (d) => (output += String(d)));
      const code = await new Promise<number | null>((resolve) => suite.once('exit', resolve));
      expect(code, output).toBe(0);
      expect(output).toMatch(/Tests\s+\d+ passed/);

      // The admin commands the images carry run from dist/ too.
      const command = (path: string, args: string[] = path.endsWith('dlq.js') ? ['list'] : [], env: Record<string, string> = {}) =>
        execFileSync(process.execPath, [path, ...args], { cwd: app, env: { PATH: '/usr/bin:/bin', LOG_LEVEL: 'warn', ...common, ...env }, encoding: 'utf8' });
      expect(command('dist/services/audit/dlq.js').trim()).toBe(`0 dead letter(s) in ${streams.stream}_DLQ`);
      expect(command('dist/services/identity/rotate-signing-key.js')).toMatch(/^new signing key \S+/);
      expect(command('dist/services/identity/admin.js', ['grant', 'ops@example.com']).trim()).toBe('granted platform administration to ops@example.com');
      // Everything is under the current KEK already: the re-seal reaches both schemas and changes nothing.
      const reseal = command('dist/services/identity/rotate-kek.js', [], { TASKMESH_KEK_PREVIOUS: randomBytes(32).toString('base64') });
      expect(reseal).toMatch(/^re-sealed 0 signing key\(s\) .*\nre-sealed 0 webhook signing secret\(s\) of 0 endpoint\(s\) /);

      for (const running of [...started].reverse()) expect(await stop(running), `${running.name} exit code`).toBe(0);
    },
    240_000,
  );
});
