// The API's published contract for people: GET /openapi.json (the document buf generate writes from the
// google.api.http bindings) and GET /docs, an interactive reference rendered by swagger-ui-dist straight
// from node_modules, so the docs never reach out to a CDN.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DocsOptions {
  /** Path of the OpenAPI document; defaults to gen/openapi/openapi.json of this checkout. */
  openApiPath?: string;
}

interface Asset {
  file: string;
  contentType: string;
}

const defaultOpenApiPath = fileURLToPath(new URL('../../../gen/openapi/openapi.json', import.meta.url));

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const swaggerUiVersion = (JSON.parse(readFileSync(join(swaggerUiDir, 'package.json'), 'utf8')) as { version: string }).version;

// Only these files of the package are served; nothing else under node_modules is reachable.
const assets: Record<string, Asset> = {
  '/docs/swagger-ui.css': { file: 'swagger-ui.css', contentType: 'text/css; charset=utf-8' },
  '/docs/swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', contentType: 'text/javascript; charset=utf-8' },
  '/docs/favicon-32x32.png': { file: 'favicon-32x32.png', contentType: 'image/png' },
  '/docs/favicon-16x16.png': { file: 'favicon-16x16.png', contentType: 'image/png' },
};

const v = `?v=${encodeURIComponent(swaggerUiVersion)}`;

const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Taskmesh API reference</title>
    <link rel="stylesheet" href="/docs/swagger-ui.css${v}">
    <link rel="icon" type="image/png" href="/docs/favicon-32x32.png${v}" sizes="32x32">
    <link rel="icon" type="image/png" href="/docs/favicon-16x16.png${v}" sizes="16x16">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs/swagger-ui-bundle.js${v}"></script>
    <script src="/docs/init.js${v}"></script>
  </body>
</html>
`;

// Kept out of the page so the Content-Security-Policy needs no 'unsafe-inline' for scripts.
const init = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  displayOperationId: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

const pageHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

function send(req: IncomingMessage, res: ServerResponse, status: number, headers: Record<string, string | number>, body: Buffer | string): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...headers, 'content-length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

/** A node:http handler for /openapi.json and /docs (+ its assets); returns false for every other path. */
export function createDocsHandler(options: DocsOptions = {}): (req: IncomingMessage, res: ServerResponse) => boolean {
  const openApiPath = options.openApiPath ?? defaultOpenApiPath;
  const fileCache = new Map<string, Buffer>();
  // Read on first use and kept: the files only change with a new build.
  const read = (path: string) => {
    let bytes = fileCache.get(path);
    if (!bytes) {
      bytes = readFileSync(path);
      fileCache.set(path, bytes);
    }
    return bytes;
  };

  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://docs.invalid').pathname;
    const asset = assets[pathname];
    const known = pathname === '/openapi.json' || pathname === '/docs' || pathname === '/docs/' || pathname === '/docs/init.js' || asset !== undefined;
    if (!known) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, { allow: 'GET, HEAD', 'content-type': 'application/json' }, JSON.stringify({ code: 12, message: `${req.method} is not allowed on ${pathname}`, details: [] }));
      return true;
    }
    if (pathname === '/openapi.json') {
      let document: Buffer;
      try {
        document = read(openApiPath);
      } catch {
        send(req, res, 503, { 'content-type': 'application/json' }, JSON.stringify({ code: 14, message: 'the OpenAPI document is missing: run npm run generate', details: [] }));
        return true;
      }
      send(req, res, 200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', 'access-control-allow-origin': '*' }, document);
    } else if (pathname === '/docs/init.js') {
      send(req, res, 200, { 'content-type': 'text/javascript; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' }, init);
    } else if (asset) {
      // The version query in the page's URLs changes with the package, so the files can be cached hard.
      send(req, res, 200, { 'content-type': asset.contentType, 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=86400' }, read(join(swaggerUiDir, asset.file)));
    } else {
      send(req, res, 200, { 'content-type': 'text/html; charset=utf-8', ...pageHeaders }, page);
    }
    return true;
  };
}

const defaultHandler = createDocsHandler();

/** Serves GET /openapi.json and GET /docs (+ assets); true when it answered the request. */
export function handleDocsRequest(req: IncomingMessage, res: ServerResponse): boolean {
  return defaultHandler(req, res);
}
