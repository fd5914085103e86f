// Both plugins run by buf generate on a test-only proto (test/fixtures/restgentest) that covers the
// mappings the project's own protos do not use yet: "**", additional bindings, a scalar body field,
// response_body, nested/repeated query parameters, and two messages sharing a simple name.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const plugin = (name: string) => join(root, 'services', 'restgen', 'src', name);

// The generated fixture client lives in a temporary directory, so its types are only known at run time.
interface ClientModule {
  createClient(options: { baseUrl: string; token?: string }): {
    library: Record<'listBooks' | 'addTags' | 'getTitle', (request: object) => Promise<unknown>>;
  };
}

let dir: string;
let server: Server;
let baseUrl: string;
const seen: { method: string; url: string; body: string }[] = [];
const replies: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'restgen-'));
  const module = join(dir, 'proto');
  for (const file of ['api/annotations.proto', 'api/http.proto', 'api/field_behavior.proto', 'api/resource.proto']) {
    mkdirSync(join(module, 'google', file, '..'), { recursive: true });
    cpSync(join(root, 'node_modules/google-proto-files/google', file), join(module, 'google', file));
  }
  cpSync(join(import.meta.dirname, 'fixtures', 'restgentest'), join(module, 'restgentest'), { recursive: true });
  writeFileSync(join(module, 'buf.yaml'), 'version: v2\n');
  const opt = ['target=ts', 'import_extension=js', 'public_method=restgentest.v1.LibraryService.GetBook'];
  writeFileSync(
    join(dir, 'buf.gen.yaml'),
    JSON.stringify({
      version: 'v2',
      inputs: [{ directory: 'proto' }],
      plugins: [
        { local: [bin('tsx'), plugin('protoc-gen-taskmesh-rest.ts')], out: 'client', strategy: 'all', opt },
        { local: [bin('tsx'), plugin('protoc-gen-taskmesh-openapi.ts')], out: 'openapi', strategy: 'all', opt },
      ],
    }),
  );
  execFileSync(bin('buf'), ['generate'], { cwd: dir, stdio: 'pipe' });

  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(replies.shift() ?? '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('protoc-gen-taskmesh-rest', () => {
  it('emits client code that typechecks strictly, with path variables required and enums as string unions', () => {
    writeFileSync(
      join(dir, 'usage.ts'),
      `import { createClient } from './client/index.ts';
// Book is in two packages, so index.ts re-exports neither: each comes from its own file.
import type { Book } from './client/restgentest/v1/library_service.ts';
import type { Book as ArchivedBook } from './client/restgentest/archive/v1/book.ts';
const client = createClient({ baseUrl: 'http://127.0.0.1:1' });
// @ts-expect-error name is a path variable
void client.library.getBook({});
// @ts-expect-error genres are enum names
void client.library.listBooks({ parent: 'shelves/s1', genres: ['GENRE_MADE_UP'] });
const title: Promise<string> = client.library.getTitle({ name: 'shelves/s1/books/b1' });
const book: Book = { name: 'n', title: 't', pages: '12', genre: 'GENRE_POETRY', labels: {}, editions: [] };
const archived: ArchivedBook | undefined = book.archived;
// @ts-expect-error int64 travels as a string
const wrong: Book = { ...book, pages: 12 };
export { title, archived, wrong };
`,
    );
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions: { typeRoots: [join(root, 'node_modules', '@types')] }, include: ['client/**/*.ts', 'usage.ts'] }),
    );
    let diagnostics = '';
    try {
      execFileSync(bin('tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir, stdio: 'pipe' });
    } catch (error) {
      diagnostics = String((error as { stdout?: Buffer }).stdout ?? error);
    }
    expect(diagnostics).toBe('');
  });

  it('sends nested, repeated, enum, field-mask and timestamp fields as the query parameters the transcoder reads', async () => {
    const { createClient } = (await import(pathToFileURL(join(dir, 'client', 'index.ts')).href)) as ClientModule;
    const client = createClient({ baseUrl, token: 't' });
    seen.length = 0;
    await client.library.listBooks({
      parent: 'shelves/s1',
      pageSize: 5,
      filter: { author: 'Ada L', year: { min: 1800, max: 1900 }, tags: ['a', 'b c'] },
      genres: ['GENRE_FICTION', 'GENRE_POETRY'],
      readMask: 'title,pages',
      since: '2026-01-02T03:04:05Z',
      minPages: '100',
    });
    expect(seen[0]).toEqual({
      method: 'GET',
      url:
        '/v1/shelves/s1/books?pageSize=5&filter.author=Ada%20L&filter.year.min=1800&filter.year.max=1900&filter.tags=a&filter.tags=b%20c' +
        '&genres=GENRE_FICTION&genres=GENRE_POETRY&readMask=title,pages&since=2026-01-02T03%3A04%3A05Z&minPages=100',
      body: '',
    });
  });

  it('sends a scalar body field as the whole body with the rest in the query, and returns a response_body field as is', async () => {
    const { createClient } = (await import(pathToFileURL(join(dir, 'client', 'index.ts')).href)) as ClientModule;
    const client = createClient({ baseUrl, token: 't' });
    seen.length = 0;
    replies.push('{"name":"shelves/s1/books/b1","title":"Dune"}', '"Dune"');
    await client.library.addTags({ name: 'shelves/s1/books/b1', tags: ['sf', 'classic'], dryRun: true });
    expect(await client.library.getTitle({ name: 'shelves/s1/books/b1' })).toBe('Dune');
    expect(seen).toEqual([
      { method: 'POST', url: '/v1/shelves/s1/books/b1:addTags?dryRun=true', body: '["sf","classic"]' },
      { method: 'GET', url: '/v1/shelves/s1/books/b1/title', body: '' },
    ]);
  });

  it('aliases an imported type that shares its name with a local one', () => {
    const source = readFileSync(join(dir, 'client', 'restgentest', 'v1', 'library_service.ts'), 'utf8');
    expect(source).toContain('import type { Book as Book$1 } from "../archive/v1/book.js";');
    expect(source).toContain('archived?: Book$1;');
    expect(source).not.toContain('compact');
  });
});

describe('protoc-gen-taskmesh-openapi', () => {
  const load = () =>
    JSON.parse(readFileSync(join(dir, 'openapi', 'openapi.json'), 'utf8')) as {
      paths: Record<string, Record<string, { operationId: string; security?: unknown[]; parameters: { name: string; in: string; schema: unknown }[]; requestBody?: unknown; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };

  it('is valid OpenAPI 3.1 for the fixture too', async () => {
    const result = await new Validator().validate(load() as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it('lists additional bindings as their own operations, "**" as one parameter, and no unbound RPC', () => {
    const doc = load();
    const ops = Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => `${method.toUpperCase()} ${path} ${op.operationId}`));
    expect(ops.sort()).toEqual(
      [
        'GET /v1/shelves/{shelf}/books/{book} LibraryService_GetBook',
        'GET /v1/archive/{name} LibraryService_GetBook_1',
        'GET /v1/shelves/{shelf}/books LibraryService_ListBooks',
        // No resource pattern covers libraries/*: the parameter is named after the collection.
        'GET /v1/libraries/{library}/books LibraryService_ListBooks_1',
        'POST /v1/shelves/{shelf}/books/{book}:addTags LibraryService_AddTags',
        'GET /v1/shelves/{shelf}/books/{book}/title LibraryService_GetTitle',
        'GET /v1/{shelf}:watch LibraryService_WatchShelf',
      ].sort(),
    );
    expect(doc.paths['/v1/archive/{name}']!['get']!.security).toEqual([]);
    expect(doc.paths['/v1/shelves/{shelf}/books']!['get']!.security).toBeUndefined();
  });

  it('flattens nested query fields, keeps repeated scalars as arrays and leaves repeated messages out', () => {
    const list = load().paths['/v1/shelves/{shelf}/books']!['get']!;
    expect(list.parameters.map((p) => `${p.in}:${p.name}`)).toEqual([
      'path:shelf',
      'query:pageSize',
      'query:filter.author',
      'query:filter.year.min',
      'query:filter.year.max',
      'query:filter.tags',
      'query:genres',
      'query:readMask',
      'query:since',
      'query:minPages',
    ]);
    expect(list.parameters.find((p) => p.name === 'genres')!.schema).toEqual({ type: 'array', items: { $ref: '#/components/schemas/Genre' } });
    expect(list.parameters.find((p) => p.name === 'minPages')!.schema).toMatchObject({ type: 'string', format: 'int64' });
  });

  it('names clashing messages by their full proto names and describes a scalar body and a response_body', () => {
    const doc = load();
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['restgentest.v1.Book', 'restgentest.archive.v1.Book', 'Book_Edition']));
    expect(Object.keys(doc.components.schemas)).not.toContain('Book');
    const addTags = doc.paths['/v1/shelves/{shelf}/books/{book}:addTags']!['post']!;
    expect(addTags.requestBody).toMatchObject({ content: { 'application/json': { schema: { type: 'array', items: { type: 'string' } } } } });
    expect(addTags.parameters.map((p) => p.name)).toEqual(['shelf', 'book', 'dryRun']);
    const title = doc.paths['/v1/shelves/{shelf}/books/{book}/title']!['get']!;
    expect(title.responses['200']).toMatchObject({ content: { 'application/json': { schema: { type: 'string' } } } });
  });
});
