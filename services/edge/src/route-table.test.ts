import { describe, expect, it } from 'vitest';
import { parsePathTemplate } from './path-template.ts';
import { DuplicateRouteError, RouteTable } from './route-table.ts';

function table(routes: [string, string][]): RouteTable<string> {
  const t = new RouteTable<string>();
  for (const [method, path] of routes) t.add(method, parsePathTemplate(path), `${method} ${path}`);
  return t;
}

describe('RouteTable', () => {
  const routes = table([
    ['GET', '/v1/{name=organizations/*}'],
    ['GET', '/v1/organizations/mine'],
    ['GET', '/v1/{name=organizations/*/boards/*}'],
    ['GET', '/v1/{name=organizations/*/boards/*}:watch'],
    ['POST', '/v1/{name=organizations/*/boards/*/lists/*}:move'],
    ['GET', '/v1/{path=files/**}'],
    ['GET', '/v1/{path=files/**}/meta'],
    ['POST', '/v1/auth:signUp'],
  ]);

  it('prefers literal over * over ** and backtracks when a branch has no route', () => {
    expect(routes.lookup('GET', '/v1/organizations/mine')?.route).toBe('GET /v1/organizations/mine');
    expect(routes.lookup('GET', '/v1/organizations/o1')?.bindings).toEqual([{ fieldPath: ['name'], value: 'organizations/o1' }]);
    expect(routes.lookup('GET', '/v1/files/a/b/meta')?.bindings).toEqual([{ fieldPath: ['path'], value: 'files/a/b' }]);
    expect(routes.lookup('GET', '/v1/files/a/b')?.bindings).toEqual([{ fieldPath: ['path'], value: 'files/a/b' }]);
    expect(routes.lookup('GET', '/v1/files')?.bindings).toEqual([{ fieldPath: ['path'], value: 'files' }]);
  });

  it('matches custom verbs only for declared verbs', () => {
    expect(routes.lookup('GET', '/v1/organizations/o/boards/b:watch')?.route).toBe('GET /v1/{name=organizations/*/boards/*}:watch');
    expect(routes.lookup('GET', '/v1/organizations/o/boards/b')?.route).toBe('GET /v1/{name=organizations/*/boards/*}');
    expect(routes.lookup('GET', '/v1/organizations/o/boards/b:other')?.bindings[0]?.value).toBe('organizations/o/boards/b:other');
    expect(routes.lookup('POST', '/v1/organizations/o/boards/b/lists/l:move')?.bindings[0]?.value).toBe('organizations/o/boards/b/lists/l');
    expect(routes.lookup('POST', '/v1/auth:signUp')?.route).toBe('POST /v1/auth:signUp');
    expect(routes.lookup('POST', '/v1/auth:logIn')).toBeUndefined();
  });

  it('distinguishes HTTP methods', () => {
    expect(routes.lookup('DELETE', '/v1/organizations/o1')).toBeUndefined();
    expect(routes.lookup('get', '/v1/organizations/o1')).toBeDefined();
  });

  it('decodes escapes in bound values except reserved characters', () => {
    expect(routes.lookup('GET', '/v1/organizations/a%20b%2Fc%3A')?.bindings[0]?.value).toBe('organizations/a b%2Fc%3A');
  });

  it('does not match too few, too many or empty segments', () => {
    expect(routes.lookup('GET', '/v1/organizations')).toBeUndefined();
    expect(routes.lookup('GET', '/v1/organizations/o/boards')).toBeUndefined();
    expect(routes.lookup('GET', '/v1/organizations/o/')).toBeUndefined();
    expect(routes.lookup('GET', 'v1/organizations/o')).toBeUndefined();
  });

  it('refuses the same method on the same template twice', () => {
    expect(() => table([['GET', '/v1/{a=x/*}'], ['GET', '/v1/x/{b}']])).toThrow(DuplicateRouteError);
  });
});
