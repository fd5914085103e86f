import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { ScalarType } from '@bufbuild/protobuf';
import type { DescField, DescMessage } from '@bufbuild/protobuf';
import { defaultDescriptorPath } from '../../src/edge.ts';
import { collectHttpBindings, loadDescriptorSet } from '../../src/http-bindings.ts';
import type { HttpBinding } from '../../src/http-bindings.ts';
import { restApi } from '../conformance/rest-api.ts';

/**
 * A property-based fuzz of the REST surface: for every google.api.http binding in the descriptor set, requests
 * with malformed or hostile paths (resource names), query strings, bodies and headers. The property: every
 * answer is a status below 500 and no connection is reset. Used by rest-fuzz.test.ts (in `npm test`) and
 * fuzz-main.ts (`npm run fuzz -- --runs N`).
 */

/**
 * Real resources the fuzz reaches past authorization with, so handlers (not only the edge) see hostile input.
 * Cases name them by placeholder (`@@board@@`, `@@token@@`), resolved when a case is sent: a case that deletes
 * the organization is followed by a fresh world rather than thousands of 404s.
 */
export interface FuzzWorld {
  token: string;
  /** The id of one real resource per collection, by the literal that precedes it in paths. */
  ids: Record<FuzzCollection, string>;
}

const collections = ['organizations', 'boards', 'lists', 'tasks', 'comments', 'members', 'invitations', 'users'] as const;
type FuzzCollection = (typeof collections)[number];
const placeholder = (collection: FuzzCollection) => `@@${collection}@@`;
const tokenPlaceholder = '@@token@@';
/** Resource names as placeholders, for fields that reference a resource. */
const placeholderNames = [
  'organizations/@@organizations@@',
  'organizations/@@organizations@@/boards/@@boards@@',
  'organizations/@@organizations@@/boards/@@boards@@/lists/@@lists@@',
  'organizations/@@organizations@@/boards/@@boards@@/tasks/@@tasks@@',
  'organizations/@@organizations@@/boards/@@boards@@/tasks/@@tasks@@/comments/@@comments@@',
  'organizations/@@organizations@@/members/@@members@@',
  'organizations/@@organizations@@/invitations/@@invitations@@',
  'users/@@users@@',
];

/** The case with its placeholders replaced by the world's current ids and token. */
export function resolveCase(fuzzCase: FuzzCase, world: FuzzWorld): FuzzCase {
  const resolve = (text: string) => (text.includes('@@') ? text.replace(/@@(\w+)@@/g, (match, key: string) => (key === 'token' ? world.token : (world.ids[key as FuzzCollection] ?? match))) : text);
  const body = fuzzCase.body && fuzzCase.body.includes('@@') ? Buffer.from(resolve(fuzzCase.body.toString('latin1')), 'latin1') : fuzzCase.body;
  return { ...fuzzCase, path: resolve(fuzzCase.path), headers: Object.fromEntries(Object.entries(fuzzCase.headers).map(([k, v]) => [k, resolve(v)])), body };
}

export interface FuzzCase {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** The binding the case was made from, for the report. */
  binding: string;
}

export interface FuzzOutcome {
  status: number | undefined;
  /** Set when the request failed at the transport: a reset, a hang-up, a malformed response. */
  transportError: string | undefined;
}

export interface FuzzFigures {
  cases: number;
  /** Worlds (user, organization, board...) made: the first and each after a case destroyed one. */
  worlds: number;
  statuses: Record<string, number>;
  transportErrors: number;
  durationMs: number;
}

/** Signs a user up and creates one of each resource, through the API itself. */
export async function prepareFuzzWorld(baseUrl: string): Promise<FuzzWorld> {
  const api = restApi(baseUrl);
  const signUp = await api.post('/v1/auth:signUp', { email: `fuzz-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`, password: 'correct horse battery', displayName: 'Fuzz' });
  if (signUp.status !== 200) throw new Error(`fuzz set-up: sign-up answered ${signUp.status} ${signUp.text}`);
  const token: string = signUp.json.accessToken;
  const ok = async (promise: ReturnType<typeof api.post>, what: string) => {
    const res = await promise;
    if (res.status !== 200) throw new Error(`fuzz set-up: ${what} answered ${res.status} ${res.text}`);
    return res.json;
  };
  const org: string = (await ok(api.post('/v1/organizations', { displayName: 'Fuzz org' }, { token }), 'organization')).organization.name;
  const board: string = (await ok(api.post(`/v1/${org}/boards`, { displayName: 'Fuzz board' }, { token }), 'board')).board.name;
  const list: string = (await ok(api.post(`/v1/${board}/lists`, { displayName: 'Fuzz list' }, { token }), 'list')).list.name;
  const task: string = (await ok(api.post(`/v1/${board}/tasks`, { list, title: 'Fuzz task', priority: 'PRIORITY_LOW' }, { token }), 'task')).task.name;
  const comment: string = (await ok(api.post(`/v1/${task}/comments`, { body: 'Fuzz comment' }, { token }), 'comment')).comment.name;
  const invitation: string = (await ok(api.post(`/v1/${org}/invitations`, { email: `invitee-${Date.now()}@example.com`, role: 'ROLE_VIEWER' }, { token }), 'invitation')).invitation.name;
  const user = (signUp.json.user.name as string).split('/')[1]!;
  const last = (name: string) => name.slice(name.lastIndexOf('/') + 1);
  return {
    token,
    ids: { organizations: last(org), boards: last(board), lists: last(list), tasks: last(task), comments: last(comment), members: user, invitations: last(invitation), users: user },
  };
}

/** True while the world's organization still answers its owner (a case may have deleted it or left it). */
async function worldIntact(baseUrl: string, world: FuzzWorld): Promise<boolean> {
  const res = await restApi(baseUrl).get(`/v1/organizations/${world.ids.organizations}/boards/${world.ids.boards}/lists`, { token: world.token });
  return res.status === 200 && res.json.lists.length > 0;
}

const hostileConstants = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '\ufffe\uffff',
  '\u202eevil',
  '../../etc/passwd',
  '%00',
  '%2F',
  "' OR 1=1 --",
  '"; DROP TABLE tasks; --',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '{{7*7}}',
  'organizations/*',
  'organizations/-',
  '😀'.repeat(300),
  'a'.repeat(1_025),
  'é'.repeat(20_000),
  '9'.repeat(400),
];

/** Strings as a client might send them, from ordinary to hostile. */
function stringArb(): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 3, arbitrary: fc.constantFrom(...hostileConstants) },
    { weight: 3, arbitrary: fc.constantFrom(...placeholderNames, ...collections.map(placeholder)) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...placeholderNames), fc.constantFrom('\u0000', '/x', '/..', '%', '\ud800', '*', '')).map(([a, b]) => a + b) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 200, maxLength: 3_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 90_000 }).map((n) => 'x'.repeat(n)) },
  );
}

const numberish = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom('1', '-1', '0', '99999999999999999999999', '1e309', 'NaN', 'Infinity', '0x10', '', ' 1', '1.5', 2 ** 53 + 1, -(2 ** 63)),
);

/** A JSON value for one field, usually of the field's type, sometimes not. */
function fieldValueArb(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const wrong = fc.jsonValue({ maxDepth: 2 });
  return fc.oneof({ weight: 12, arbitrary: typedValueArb(field, depth) }, { weight: 1, arbitrary: wrong });
}

function typedValueArb(field: DescField, depth: number): fc.Arbitrary<unknown> {
  const single = (): fc.Arbitrary<unknown> => {
    switch (field.fieldKind) {
      case 'scalar':
      case 'list':
        if (field.fieldKind === 'list' && field.listKind === 'message') return messageValueArb(field.message, depth + 1);
        if (field.fieldKind === 'list' && field.listKind === 'enum') return enumArb(field.enum.values.map((v) => v.name));
        return scalarArb(field.scalar!);
      case 'enum':
        return enumArb(field.enum.values.map((v) => v.name));
      case 'message':
        return messageValueArb(field.message, depth + 1);
      case 'map':
        return fc.dictionary(stringArb(), stringArb(), { maxKeys: 3 });
    }
  };
  if (field.fieldKind === 'list') return fc.oneof(fc.array(single(), { maxLength: 25 }), single());
  return single();
}

function enumArb(names: string[]): fc.Arbitrary<unknown> {
  return fc.oneof(fc.constantFrom(...names), fc.integer({ min: -5, max: 100 }), fc.string({ maxLength: 12 }));
}

function scalarArb(scalar: ScalarType | undefined): fc.Arbitrary<unknown> {
  if (scalar === ScalarType.STRING) return stringArb();
  if (scalar === ScalarType.BOOL) return fc.oneof(fc.boolean(), fc.constantFrom('true', 'yes', 1));
  if (scalar === ScalarType.BYTES) return fc.oneof(fc.base64String({ maxLength: 40 }), fc.string({ maxLength: 10 }));
  return numberish;
}

function messageValueArb(message: DescMessage, depth: number): fc.Arbitrary<unknown> {
  switch (message.typeName) {
    case 'google.protobuf.Timestamp':
      return fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.constantFrom('2026-13-45T99:00:00Z', 'yesterday', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999Z'), stringArb());
    case 'google.protobuf.FieldMask':
      return fc.oneof(fc.constantFrom('displayName', 'title,status', 'role', 'nope', ''), stringArb());
    case 'google.protobuf.Duration':
      return fc.constantFrom('1s', '-5s', '1.5s', 'forever', '315576000001s');
  }
  if (depth > 3) return fc.constant({});
  return objectArb(message, depth);
}

/** A JSON object for a message: some of its fields under either name, sometimes an unknown one. */
function objectArb(message: DescMessage, depth: number, omit: ReadonlySet<string> = new Set()): fc.Arbitrary<Record<string, unknown>> {
  const fields = message.fields.filter((f) => !omit.has(f.name));
  const entries = fields.map((field) =>
    fc.option(fc.tuple(fc.constantFrom(field.jsonName, field.name), fieldValueArb(field, depth)), { freq: 2, nil: undefined }),
  );
  const unknown = fc.option(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.jsonValue({ maxDepth: 1 })), { freq: 8, nil: undefined });
  return fc.tuple(fc.tuple(...entries), unknown).map(([chosen, extra]) => {
    const object: Record<string, unknown> = {};
    for (const entry of [...chosen, extra]) if (entry) object[entry[0]] = entry[1];
    return object;
  });
}

/** Body bytes for a binding: JSON of the right shape with hostile values, or something that is not JSON at all. */
function bodyArb(binding: HttpBinding): fc.Arbitrary<Buffer | undefined> {
  const schema = binding.body === undefined ? binding.method.input : binding.body === '*' ? binding.method.input : binding.body.message;
  const pathFields = new Set(binding.template.variables.map((v) => v.fieldPath[0]!));
  const shaped =
    binding.body !== undefined && binding.body !== '*' && binding.body.fieldKind !== 'message'
      ? fieldValueArb(binding.body, 0)
      : schema
        ? objectArb(schema, 0, binding.body === '*' ? pathFields : new Set())
        : fc.constant({});
  const json = shaped.map((value) => Buffer.from(JSON.stringify(value) ?? 'null'));
  const malformed = fc.oneof(
    fc.constantFrom('{', '{"a":', '[]', 'null', '"x"', '1', 'true', '{"a":1,}', '\u0000', '{"displayName":"\\ud800"}', '{"title":"\\u0000"}'),
    fc.string({ maxLength: 60 }),
    fc.integer({ min: 1, max: 50_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
    fc.integer({ min: 1, max: 2_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  ).map((text) => Buffer.from(text));
  const bytes = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b));
  const overLimit = fc.constant(Buffer.alloc(1024 * 1024 + 10, 0x20));
  const anyBody = fc.oneof({ weight: 12, arbitrary: json }, { weight: 4, arbitrary: malformed }, { weight: 2, arbitrary: bytes }, { weight: 1, arbitrary: overLimit });
  if (binding.body !== undefined) return fc.oneof({ weight: 9, arbitrary: anyBody }, { weight: 1, arbitrary: fc.constant(undefined) });
  // Methods without a body mostly get none; sometimes one anyway (GET/DELETE with a body).
  return fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: anyBody });
}

/** One path segment in its URL form: the real id of its collection, a hostile string percent-encoded, or a malformed escape. */
function segmentArb(collection: string | undefined): fc.Arbitrary<string> {
  const real = collections.includes(collection as FuzzCollection) ? placeholder(collection as FuzzCollection) : placeholder('organizations');
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(real) },
    { weight: 1, arbitrary: fc.constantFrom(...collections.map(placeholder)) },
    { weight: 3, arbitrary: stringArb().filter((s) => s.length < 5_000).map((s) => encodeURIComponent(s.isWellFormed() ? s : s.toWellFormed())) },
    { weight: 2, arbitrary: fc.constantFrom('%', '%zz', '%00', '%ff', '%ED%A0%80', '%C0%AF', '..', '.', '%2F', '%2e%2e', '-', '*', 'x%00y', encodeURIComponent('\u0000')) },
  );
}

function pathArb(binding: HttpBinding): fc.Arbitrary<string> {
  const segments = binding.template.segments;
  const parts = segments.map((segment, i) => {
    const previous = segments[i - 1];
    const collection = previous?.kind === 'literal' ? previous.value : undefined;
    if (segment.kind === 'literal') return fc.constant(segment.value);
    if (segment.kind === 'single') return segmentArb(collection);
    return fc.array(segmentArb(collection), { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
  });
  const verb = binding.template.verb ? fc.oneof({ weight: 9, arbitrary: fc.constant(`:${binding.template.verb}`) }, { weight: 1, arbitrary: fc.constantFrom(':', ':x', '%3A' + binding.template.verb, `:${binding.template.verb}:x`) }) : fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(':watch', ':', ':x') });
  const suffix = fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('/', '//', '/x', '/%00', '?') });
  return fc.tuple(fc.tuple(...parts), verb, suffix).map(([parts, v, s]) => `/${parts.join('/')}${v}${s}`);
}

/** Query parameter names the input message knows (both spellings, nested), and some it does not. */
function queryNames(message: DescMessage, prefix = '', depth = 0): string[] {
  const names: string[] = [];
  for (const field of message.fields) {
    names.push(prefix + field.name, prefix + field.jsonName);
    if (field.fieldKind === 'message' && depth < 2) names.push(...queryNames(field.message, `${prefix}${field.jsonName}.`, depth + 1));
  }
  return names;
}

function queryArb(binding: HttpBinding): fc.Arbitrary<string> {
  const known = queryNames(binding.method.input);
  const name = fc.oneof(
    { weight: 6, arbitrary: known.length > 0 ? fc.constantFrom(...known) : fc.constant('pageSize') },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', 'a%00', '__proto__', 'constructor', 'a..b', '.', 'task.', '') },
  );
  const value = fc.oneof(
    { weight: 5, arbitrary: stringArb().filter((s) => s.length < 5_000).map((s) => encodeURIComponent(s.isWellFormed() ? s : s.toWellFormed())) },
    { weight: 2, arbitrary: numberish.map((n) => encodeURIComponent(String(n))) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%ff', '%ED%A0%80', '+', '++', 'a+b', '%2B', 'true', 'ROLE_OWNER', 'TASK_STATUS_DONE') },
  );
  const pair = fc.oneof({ weight: 8, arbitrary: fc.tuple(name, value).map(([n, v]) => `${n}=${v}`) }, { weight: 1, arbitrary: fc.constantFrom('&', '=', '==', 'a', '&&&', '=x') });
  return fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 2, arbitrary: fc.array(pair, { minLength: 1, maxLength: 5 }).map((pairs) => `?${pairs.join('&')}`) });
}

const printable = fc.string({ unit: 'grapheme-ascii', maxLength: 60 });

function headersArb(token: string, hasBody: boolean): fc.Arbitrary<Record<string, string>> {
  // The token's parts for tampered variants; the token itself stays a placeholder until the case is sent.
  const [header, payload] = token.split('.');
  const authorization = fc.oneof(
    { weight: 10, arbitrary: fc.constant(`Bearer ${tokenPlaceholder}`) },
    { weight: 2, arbitrary: fc.constant(undefined) },
    {
      weight: 3,
      arbitrary: fc.oneof(
        printable.map((s) => `Bearer ${s}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', `bearer ${tokenPlaceholder}`, `Bearer ${tokenPlaceholder}x`, `Bearer ${header}.${payload}.`, `Bearer eyJhbGciOiJub25lIn0.${payload}.`, `Bearer ${tokenPlaceholder} ${tokenPlaceholder}`),
        printable,
      ),
    },
  );
  const contentType = hasBody
    ? fc.oneof({ weight: 8, arbitrary: fc.constant('application/json') }, { weight: 2, arbitrary: fc.constantFrom(undefined, 'text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'application/merge-patch+json', '*/*', ';;;', 'application/json\t') }, { weight: 1, arbitrary: printable })
    : fc.constant(undefined);
  const extra = fc.record(
    {
      'x-request-id': fc.oneof(printable, fc.constant('r'.repeat(400))),
      traceparent: fc.oneof(printable, fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), fc.constant('00-00000000000000000000000000000000-0000000000000000-ff')),
      'x-forwarded-for': fc.constantFrom('1.2.3.4', 'garbage', '::1, 10.0.0.1', '', '999.999.999.999'),
      accept: fc.constantFrom('application/json', 'text/event-stream', '*/*', ''),
      'user-agent': printable,
      'grpc-timeout': fc.constantFrom('1n', '0S', 'x'),
      te: fc.constantFrom('trailers', 'gzip'),
    },
    { requiredKeys: [] },
  );
  return fc.tuple(authorization, contentType, extra).map(([auth, type, rest]) => {
    const headers: Record<string, string> = {};
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) headers[key] = value;
    if (auth !== undefined) headers.authorization = auth;
    if (type !== undefined) headers['content-type'] = type;
    return headers;
  });
}

const otherMethods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** A case printed short in fast-check's report (a body can be a megabyte). */
function describedCase(fuzzCase: FuzzCase): FuzzCase {
  return Object.assign(fuzzCase, {
    [fc.toStringMethod]: () => {
      const body = fuzzCase.body === undefined ? 'none' : `${fuzzCase.body.length} bytes: ${JSON.stringify(fuzzCase.body.subarray(0, 300).toString('latin1'))}`;
      return `${fuzzCase.method} ${fuzzCase.path.slice(0, 600)} (binding ${fuzzCase.binding}; headers ${JSON.stringify(fuzzCase.headers).slice(0, 600)}; body ${body})`;
    },
  });
}

/** Every HTTP binding of the descriptor set, each giving cases of its own shape. */
export function fuzzCaseArb(sampleToken: string, descriptorPath = defaultDescriptorPath): fc.Arbitrary<FuzzCase> {
  const bindings = collectHttpBindings(loadDescriptorSet(descriptorPath));
  const perBinding = bindings.map((binding) =>
    fc
      .tuple(
        fc.oneof({ weight: 9, arbitrary: fc.constant(binding.httpMethod) }, { weight: 1, arbitrary: fc.constantFrom(...otherMethods) }),
        pathArb(binding),
        queryArb(binding),
        bodyArb(binding),
      )
      .chain(([method, path, query, body]) =>
        headersArb(sampleToken, body !== undefined).map((headers) => describedCase({ method, path: path + query, headers, body, binding: `${binding.httpMethod} ${binding.template.source}` })),
      ),
  );
  return fc.oneof(...perBinding);
}

/** Sends one case over a raw HTTP connection; transport failures (a reset above all) are reported, not thrown. */
export function sendFuzzCase(baseUrl: string, agent: Agent, fuzzCase: FuzzCase): Promise<FuzzOutcome> {
  return new Promise((resolve) => {
    let status: number | undefined;
    let settled = false;
    const settle = (outcome: FuzzOutcome) => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    let req: ReturnType<typeof request>;
    try {
      req = request(baseUrl + fuzzCase.path, { method: fuzzCase.method, headers: { ...fuzzCase.headers, ...(fuzzCase.body ? { 'content-length': String(fuzzCase.body.length) } : {}) }, agent }, (res) => {
        status = res.statusCode;
        // A stream (WatchBoard) answered 200 is left after its headers: its status is what is checked.
        if (status === 200 && fuzzCase.path.includes(':watch')) {
          res.destroy();
          settle({ status, transportError: undefined });
          return;
        }
        res.resume();
        res.on('end', () => settle({ status, transportError: undefined }));
        res.on('error', (err: NodeJS.ErrnoException) => settle({ status, transportError: err.code ?? err.message }));
      });
    } catch (err) {
      // The client itself refused to send it (an invalid header or path): not the server's doing.
      settle({ status: 0, transportError: undefined });
      void err;
      return;
    }
    req.on('error', (err: NodeJS.ErrnoException) => settle({ status, transportError: err.code ?? err.message }));
    req.end(fuzzCase.body);
  });
}

/** How often (in cases) the world is checked and, when a case destroyed it, made anew. */
const worldCheckEvery = 100;

/** Runs `runs` seeded cases; resolves with the figures, rejects (fast-check's report) on the first 5xx or reset. */
export async function runRestFuzz(options: { baseUrl: string; runs: number; seed: number; onProgress?: (done: number) => void }): Promise<FuzzFigures> {
  const started = Date.now();
  const statuses: Record<string, number> = {};
  let cases = 0;
  let transportErrors = 0;
  let worlds = 1;
  let world = await prepareFuzzWorld(options.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await fc.assert(
      fc.asyncProperty(fuzzCaseArb(world.token), async (fuzzCase) => {
        if (cases > 0 && cases % worldCheckEvery === 0 && !(await worldIntact(options.baseUrl, world))) {
          world = await prepareFuzzWorld(options.baseUrl);
          worlds += 1;
        }
        const outcome = await sendFuzzCase(options.baseUrl, agent, resolveCase(fuzzCase, world));
        cases += 1;
        statuses[String(outcome.status ?? 'none')] = (statuses[String(outcome.status ?? 'none')] ?? 0) + 1;
        if (outcome.transportError) transportErrors += 1;
        if (cases % 500 === 0) options.onProgress?.(cases);
        if (outcome.transportError) throw new Error(`transport error ${outcome.transportError} (status ${outcome.status ?? 'none'})`);
        if (outcome.status !== undefined && outcome.status >= 500) throw new Error(`answered ${outcome.status}`);
      }),
      { numRuns: options.runs, seed: options.seed, endOnFailure: true },
    );
  } finally {
    agent.destroy();
  }
  return { cases, statuses, transportErrors, worlds, durationMs: Date.now() - started };
}
