import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handleDocsRequest } from '../src/docs.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const chromiumPath = '/usr/bin/chromium';
// CI sets TASKMESH_REQUIRE_CHROMIUM=1 so a missing browser fails the run instead of skipping the check.
const runBrowserTest = existsSync(chromiumPath) || process.env.TASKMESH_REQUIRE_CHROMIUM === '1';

let server: Server;
let origin: string;

beforeAll(async () => {
  // Mounted the way the edge mounts it: docs first, everything else falls through.
  server = createServer((req, res) => {
    if (handleDocsRequest(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: 5, message: 'no route', details: [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('handleDocsRequest', () => {
  it('serves the generated OpenAPI document byte for byte at GET /openapi.json', async () => {
    const res = await fetch(`${origin}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.text()).toBe(readFileSync(join(root, 'gen', 'openapi', 'openapi.json'), 'utf8'));
  });

  it('serves the reference page at /docs and /docs/ with its assets from node_modules', async () => {
    for (const path of ['/docs', '/docs/']) {
      const res = await fetch(`${origin}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      const html = await res.text();
      for (const asset of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
        expect(asset[1], 'every asset is served by the edge itself').toMatch(/^\/docs\//);
        const assetRes = await fetch(`${origin}${asset[1]}`);
        expect(assetRes.status, asset[1]).toBe(200);
        expect((await assetRes.arrayBuffer()).byteLength, asset[1]).toBeGreaterThan(0);
      }
    }
  });

  it('answers HEAD without a body and refuses other methods with 405', async () => {
    const head = await fetch(`${origin}/openapi.json`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${origin}/docs`, { method: 'POST', body: '{}' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('leaves every other path to the edge (returns false)', async () => {
    for (const path of ['/v1/users/me', '/docs/../package.json', '/docs/index.js', '/docsx', '/openapi.yaml']) {
      const res = await fetch(`${origin}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toEqual({ code: 5, message: 'no route', details: [] });
    }
  });
});

describe.runIf(runBrowserTest)('/docs in headless Chromium', () => {
  it('renders every operation from the OpenAPI document, loading nothing from outside the edge', async () => {
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      const requested: string[] = [];
      const pageErrors: string[] = [];
      page.on('request', (request) => requested.push(request.url()));
      page.on('pageerror', (error) => pageErrors.push(error.message));
      // Content-Security-Policy violations and failed loads surface as console errors.
      page.on('console', (message) => {
        if (message.type() === 'error') pageErrors.push(message.text());
      });
      await page.goto(`${origin}/docs`);
      await page.locator('.opblock').first().waitFor({ state: 'visible', timeout: 30_000 });

      const document = JSON.parse(readFileSync(join(root, 'gen', 'openapi', 'openapi.json'), 'utf8')) as {
        paths: Record<string, Record<string, { operationId: string }>>;
      };
      const operations = Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
      expect(operations).toContain('IdentityService_SignUp');
      await expect.poll(() => page.locator('.opblock').count(), { timeout: 30_000 }).toBe(operations.length);

      const signUp = page.locator('.opblock', { hasText: 'IdentityService_SignUp' });
      await expect.poll(() => signUp.count()).toBe(1);
      expect(await signUp.locator('.opblock-summary-method').innerText()).toBe('POST');
      expect(await signUp.locator('.opblock-summary-path').innerText()).toContain('/v1/auth:signUp');
      // Opening an operation renders its parameters, schemas and examples (under the page's CSP).
      await signUp.locator('.opblock-summary').click();
      await signUp.locator('.opblock-body').waitFor({ state: 'visible', timeout: 30_000 });
      await expect.poll(() => signUp.locator('.opblock-body').innerText()).toContain('displayName');
      const shown = await page.locator('.opblock-summary-operation-id').allInnerTexts();
      expect(shown.sort()).toEqual([...operations].sort());

      expect(pageErrors).toEqual([]);
      expect(requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'))).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
