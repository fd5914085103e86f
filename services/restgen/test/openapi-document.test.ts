// gen/openapi/openapi.json: valid OpenAPI 3.1, and faithful to the google.api.http bindings in the
// descriptor set (read here independently of the plugin, from the raw option bytes).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(import.meta.dirname, '..', '..', '..');

interface Operation {
  operationId: string;
  tags: string[];
  summary?: string;
  description?: string;
  parameters: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  requestBody?: { content: { 'application/json': { schema: Record<string, unknown> } } };
  responses: Record<string, { content: { 'application/json': { schema: Record<string, unknown> } } }>;
  security?: unknown[];
}

interface Document {
  openapi: string;
  security: unknown[];
  tags: { name: string; description?: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, Record<string, unknown>>; required?: string[]; enum?: string[]; type?: string }>; securitySchemes: Record<string, unknown> };
}

const text = readFileSync(join(root, 'gen', 'openapi', 'openapi.json'), 'utf8');
const document = JSON.parse(text) as Document;
const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));
const byId = (id: string) => operations.find((o) => o.op.operationId === id)!;

function findKey(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  if (!Array.isArray(value) && key in value) return (value as Record<string, unknown>)[key];
  for (const inner of Object.values(value)) {
    const found = findKey(inner, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

// google.api.http is extension 72295728 of MethodOptions.
const httpOptionNumber = 72295728;

function boundMethods(): string[] {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(root, 'gen', 'descriptor.binpb')));
  const registry = createFileRegistry(set);
  const out: string[] = [];
  for (const file of registry.files) {
    if (file.proto.name.startsWith('google/')) continue;
    for (const service of file.services) {
      for (const method of service.methods) {
        if (method.proto.options?.$unknown?.some((u) => u.no === httpOptionNumber)) out.push(`${service.name}_${method.name}`);
      }
    }
  }
  return out.sort();
}

describe('gen/openapi/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    // The same validator does reject a damaged copy (a Swagger 2 "in: body" parameter), so a pass means something.
    const damaged = JSON.parse(text) as Document;
    damaged.paths['/v1/auth:signUp']!['post']!.parameters.push({ name: 'payload', in: 'body', schema: {} });
    expect((await new Validator().validate(damaged as unknown as Record<string, unknown>)).valid).toBe(false);
  });

  it('has exactly one operation per HTTP-bound RPC, with operationId Service_Method and its service as tag', () => {
    const expected = boundMethods();
    expect(expected.length).toBeGreaterThan(9); // identity alone binds 9; org, board, task and audit add more
    expect(operations.map((o) => o.op.operationId).sort()).toEqual(expected);
    for (const { op } of operations) expect(op.tags).toEqual([op.operationId.split('_')[0]]);
    expect(document.tags.map((t) => t.name).sort()).toEqual([...new Set(expected.map((id) => id.split('_')[0]))].sort());
  });

  it('resolves every $ref to a component', () => {
    const refs = [...text.matchAll(/"\$ref": "#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const name of refs) expect(document.components.schemas[name], name).toBeDefined();
  });

  it('requires bearer auth everywhere except the public identity and shared-task routes', () => {
    expect(document.components.securitySchemes['bearerAuth']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    const open = operations.filter((o) => o.op.security !== undefined);
    for (const { op } of open) expect(op.security).toEqual([]);
    expect(open.map((o) => o.op.operationId).sort()).toEqual(
      [
        ...['GetJwks', 'LogIn', 'LogOut', 'Refresh', 'RequestPasswordReset', 'ResetPassword', 'SignUp'].map((m) => `IdentityService_${m}`),
        'ShareService_GetSharedTask',
        'ShareService_OpenSharedTask',
      ].sort(),
    );
  });

  it('describes SignUp at its custom-verb path with its request schema, comments and the error schema', () => {
    const { path, method, op } = byId('IdentityService_SignUp');
    expect([method, path]).toEqual(['post', '/v1/auth:signUp']);
    expect(op.summary).toBe('Creates an account and signs it in.');
    expect(op.requestBody!.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SignUpRequest' });
    const request = document.components.schemas['SignUpRequest']!;
    expect(Object.keys(request.properties!)).toEqual(['email', 'password', 'displayName']);
    expect(request.required).toEqual(['email', 'password']);
    expect(request.properties!['email']!['description']).toBe('E-mail address; unique regardless of case.');
    expect(op.responses['200']!.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/SignUpResponse' });
    expect(document.components.schemas['SignUpResponse']!.properties!['expiresIn']).toMatchObject({ type: 'integer', format: 'int32' });
    expect(op.responses['default']!.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Status' });
    expect(Object.keys(document.components.schemas['Status']!.properties!)).toEqual(['code', 'message', 'details']);
    const user = document.components.schemas['User']!;
    expect(user.properties!['createTime']).toMatchObject({ type: 'string', format: 'date-time', readOnly: true });
  });

  it('splits resource-name variables into path parameters and maps the other fields to query parameters', () => {
    const { path, op } = byId('TaskService_ListTasks');
    expect(path).toBe('/v1/organizations/{org}/boards/{board}/tasks');
    const params = Object.fromEntries(op.parameters.map((p) => [`${p.in}:${p.name}`, p]));
    expect(Object.keys(params)).toEqual(['path:org', 'path:board', 'query:pageSize', 'query:pageToken', 'query:list', 'query:status', 'query:assignee', 'query:label', 'query:showArchived']);
    expect(params['path:board']!.required).toBe(true);
    expect(params['query:status']!.schema).toMatchObject({ $ref: '#/components/schemas/TaskStatus' });
    expect(document.components.schemas['TaskStatus']!.enum).toContain('TASK_STATUS_IN_PROGRESS');
    const update = byId('TaskService_UpdateTask');
    expect(update.path).toBe('/v1/organizations/{org}/boards/{board}/tasks/{task}');
    expect(update.op.parameters.find((p) => p.name === 'updateMask')).toMatchObject({ in: 'query', schema: { type: 'string' } });
    expect(update.op.requestBody!.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Task' });
    const search = byId('TaskService_SearchTasks');
    expect(search.op.parameters.find((p) => p.name === 'dueBefore')).toMatchObject({ in: 'query', schema: { type: 'string', format: 'date-time' } });
  });

  it('leaves path-bound fields out of a body "*" schema and frames a server stream as envoy.yaml does', () => {
    const move = byId('TaskService_MoveTask');
    expect(move.path).toBe('/v1/organizations/{org}/boards/{board}/tasks/{task}:move');
    const bodyRef = move.op.requestBody!.content['application/json'].schema['$ref'] as string;
    const body = document.components.schemas[bodyRef.split('/').pop()!]!;
    expect(body.properties!['name']).toBeUndefined();
    expect(body.properties!['list']).toBeDefined();
    const watch = byId('BoardService_WatchBoard');
    expect([watch.method, watch.path]).toEqual(['get', '/v1/organizations/{org}/boards/{board}:watch']);
    // Framed as envoy/envoy.yaml's transcoder prints streams.
    const printOptions = findKey(parse(readFileSync(join(root, 'envoy', 'envoy.yaml'), 'utf8')), 'print_options') as Record<string, unknown>;
    const response = watch.op.responses['200'] as unknown as { description: string; content: Record<string, { schema: unknown }> };
    const item = { $ref: '#/components/schemas/WatchBoardResponse' };
    if (printOptions['stream_newline_delimited'] === true) {
      expect(response.description).toMatch(/newline-delimited/);
      expect(response.content['application/json']!.schema).toEqual(item);
    } else if (printOptions['stream_sse_style_delimited'] === true) {
      expect(response.content['text/event-stream']!.schema).toEqual(item);
    } else {
      expect(response.content['application/json']!.schema).toEqual({ type: 'array', items: item });
    }
  });
});
