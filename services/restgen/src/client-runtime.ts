// Runtime of the generated Taskmesh REST client. buf generate copies this file verbatim to
// gen/client/runtime.ts, so it may import nothing: only fetch and the web streams every modern
// runtime (Node >= 18, browsers, Deno, Bun) provides.
//
// It speaks Envoy's grpc_json_transcoder dialect: google.rpc.Status JSON error bodies, query
// parameters as field paths, and server streams in any of Envoy's framings: one JSON array written
// incrementally (the default), newline-delimited (print_options.stream_newline_delimited, which
// envoy/envoy.yaml uses) or SSE-style.

/** Canonical gRPC status codes, as carried in the "code" member of an error body. */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type CodeName = keyof typeof Code;

/** A JSON value, as google.protobuf.Value prints. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A google.protobuf.Any as JSON: the type URL plus the message's own fields (or "value" for well-known types). */
export interface AnyJson {
  '@type': string;
  [field: string]: unknown;
}

/** Every field optional, recursively: what a request may leave out (the server applies proto defaults). */
export type PartialMessage<T> = T extends readonly (infer U)[]
  ? PartialMessage<U>[]
  : T extends object
    ? { [K in keyof T]?: PartialMessage<T[K]> }
    : T;

/** A failed call: the google.rpc.Status the edge answered with, plus the HTTP status it came with. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  /** Canonical gRPC code (see Code). */
  readonly code: number;
  /** google.rpc.Status details, e.g. google.rpc.ErrorInfo or google.rpc.BadRequest as Any JSON. */
  readonly details: AnyJson[];
  /** HTTP status of the response; 0 when no response arrived. */
  readonly httpStatus: number;
  /** The RPC that failed, e.g. "taskmesh.identity.v1.IdentityService/SignUp". */
  readonly procedure: string;

  constructor(init: { code: number; message: string; details?: AnyJson[]; httpStatus: number; procedure: string; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.details = init.details ?? [];
    this.httpStatus = init.httpStatus;
    this.procedure = init.procedure;
  }

  /** The code's name, e.g. "NOT_FOUND"; "UNKNOWN" for a number outside the canonical set. */
  get codeName(): CodeName {
    const entry = Object.entries(Code).find(([, value]) => value === this.code);
    return (entry?.[0] as CodeName | undefined) ?? 'UNKNOWN';
  }

  /** The first detail of the given type, matched on the type name after the last "/". */
  findDetail(typeName: string): AnyJson | undefined {
    return this.details.find((d) => typeof d['@type'] === 'string' && d['@type'].slice(d['@type'].lastIndexOf('/') + 1) === typeName);
  }
}

/** Headers in any form fetch accepts. */
export type HeaderInit = ConstructorParameters<typeof Headers>[0];

export interface ClientOptions {
  /** Where the REST edge listens, e.g. "https://api.example.com" (a path prefix is kept). */
  baseUrl: string;
  /** A fixed access token sent as "Authorization: Bearer <token>". */
  token?: string;
  /** Asked before every authenticated call; wins over `token`. Return undefined to send no Authorization. */
  getToken?: () => string | undefined | null | Promise<string | undefined | null>;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Sent with every request. */
  headers?: HeaderInit;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Sent with this request only; win over ClientOptions.headers. */
  headers?: HeaderInit;
}

/** One path variable: the value at `field` (a dotted JSON path) fills one segment or, when multi, several. */
export interface PathVariable {
  field: string;
  multi: boolean;
}

/** What the generated code knows about one HTTP binding. */
export interface Route {
  /** "package.Service/Method", for errors. */
  procedure: string;
  method: string;
  /** Literal text and variables, in order. */
  path: readonly (string | PathVariable)[];
  /** "" (no body), "*" (all fields not in the path) or a top-level JSON field name. */
  body: string;
  /** Routes that must work signed out (sign-up, log-in, ...): no token is asked for. */
  public: boolean;
}

// HTTP status → code, for error responses that carry no google.rpc.Status (e.g. a proxy's own page).
const codeByHttpStatus: Record<number, number> = {
  400: Code.INVALID_ARGUMENT,
  401: Code.UNAUTHENTICATED,
  403: Code.PERMISSION_DENIED,
  404: Code.NOT_FOUND,
  409: Code.ABORTED,
  413: Code.RESOURCE_EXHAUSTED,
  429: Code.RESOURCE_EXHAUSTED,
  499: Code.CANCELLED,
  501: Code.UNIMPLEMENTED,
  503: Code.UNAVAILABLE,
  504: Code.DEADLINE_EXCEEDED,
};

function valueAt(message: unknown, path: string): unknown {
  let value = message;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function withoutPath(message: Record<string, unknown>, path: readonly string[]): Record<string, unknown> {
  const [head, ...rest] = path;
  if (head === undefined || !(head in message)) return message;
  const copy = { ...message };
  if (rest.length === 0) delete copy[head];
  else {
    const inner = copy[head];
    if (inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
      copy[head] = withoutPath(inner as Record<string, unknown>, rest);
    }
  }
  return copy;
}

// Spaces go as %20 and "+" as %2B, which read the same whether or not the transcoder turns "+" into a
// space (Envoy's query_param_unescape_plus); URLSearchParams writes "+" for spaces, so it is not used.
// Commas stay readable for field masks.
function encodeQueryComponent(text: string): string {
  return encodeURIComponent(text).replace(/%2C/gi, ',');
}

function appendQuery(out: string[], key: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    // A repeated field is its key repeated: label=a&label=b.
    for (const item of value) {
      if (item !== null && typeof item === 'object') throw new TypeError(`${key}: a repeated message cannot be sent as query parameters`);
      appendQuery(out, key, item);
    }
    return;
  }
  if (typeof value === 'object') {
    // A message field is flattened into its field paths: a.b=v.
    for (const [field, inner] of Object.entries(value)) appendQuery(out, key === '' ? field : `${key}.${field}`, inner);
    return;
  }
  out.push(`${encodeQueryComponent(key)}=${encodeQueryComponent(String(value))}`);
}

function encodeSegment(text: string): string {
  return encodeURIComponent(text);
}

/** The request line and body for one call, exactly as the transcoder maps them back to the request. */
export function encodeRequest(route: Route, request: object): { path: string; query: string; body: string | undefined } {
  const message = request as Record<string, unknown>;
  let path = '';
  let rest: Record<string, unknown> = message;
  for (const piece of route.path) {
    if (typeof piece === 'string') {
      path += piece;
      continue;
    }
    const value = valueAt(message, piece.field);
    if (value === undefined || value === null || value === '') {
      throw new TypeError(`${route.procedure}: request.${piece.field} is required (it is part of the URL path)`);
    }
    const text = String(value);
    // A single-segment variable must not smuggle a "/" into the path; a multi-segment one keeps its slashes.
    path += piece.multi ? text.split('/').map(encodeSegment).join('/') : encodeSegment(text);
    rest = withoutPath(rest, piece.field.split('.'));
  }
  let body: string | undefined;
  let query: Record<string, unknown> = {};
  if (route.body === '*') {
    body = JSON.stringify(rest);
  } else if (route.body !== '') {
    const bodyValue = message[route.body];
    if (bodyValue !== undefined) body = JSON.stringify(bodyValue);
    query = withoutPath(rest, [route.body]);
  } else {
    query = rest;
  }
  const parts: string[] = [];
  appendQuery(parts, '', query);
  return { path, query: parts.length > 0 ? `?${parts.join('&')}` : '', body };
}

function isStatusBody(value: unknown): value is { code?: unknown; message?: unknown; details?: unknown } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && ('code' in value || 'message' in value);
}

async function errorFromResponse(procedure: string, response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const fallbackCode = codeByHttpStatus[response.status] ?? Code.UNKNOWN;
  if (isStatusBody(parsed)) {
    return new ApiError({
      code: typeof parsed.code === 'number' ? parsed.code : fallbackCode,
      message: typeof parsed.message === 'string' ? parsed.message : `HTTP ${response.status}`,
      details: Array.isArray(parsed.details) ? (parsed.details as AnyJson[]) : [],
      httpStatus: response.status,
      procedure,
    });
  }
  const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return new ApiError({
    code: fallbackCode,
    message: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${excerpt ? `: ${excerpt}` : ''}`,
    httpStatus: response.status,
    procedure,
  });
}

/** Splits a JSON array that arrives in pieces ("[", "{...}", ",", "{...}", "]") into its elements. */
class JsonArraySplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private element = '';
  private started = false;
  closed = false;

  push(chunk: string): string[] {
    const done: string[] = [];
    for (const ch of chunk) {
      if (this.closed) {
        if (!/\s/.test(ch)) throw new SyntaxError('data after the end of the streamed JSON array');
        continue;
      }
      if (!this.started) {
        if (/\s/.test(ch)) continue;
        if (ch !== '[') throw new SyntaxError(`a streamed JSON array must start with "[", got "${ch}"`);
        this.started = true;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        this.element += ch;
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
        continue;
      }
      if (ch === '"') this.inString = true;
      else if (ch === '{' || ch === '[') this.depth++;
      else if (ch === '}' || ch === ']') this.depth--;
      if (this.depth === 0 || (this.depth === 1 && ch === ',')) {
        if (this.element.trim() !== '') done.push(this.element);
        this.element = '';
        if (this.depth === 0) this.closed = true;
        continue;
      }
      this.element += ch;
      // An object is complete at its closing brace: waiting for the "," would hold every message of a
      // live stream back until the next one arrives.
      if (this.depth === 1 && (ch === '}' || ch === ']')) {
        done.push(this.element);
        this.element = '';
      }
    }
    return done;
  }
}

type Framing = 'array' | 'lines' | 'sse';

async function* frames(body: ReadableStream<Uint8Array>, framing: Framing | undefined): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const splitter = new JsonArraySplitter();
  let mode = framing;
  let pending = '';
  let sseData: string[] = [];
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
      if (mode === undefined) {
        pending += text;
        const first = pending.trimStart()[0];
        if (first === undefined && !done) continue;
        mode = first === '[' ? 'array' : 'lines';
        const buffered = pending;
        pending = '';
        if (mode === 'array') yield* splitter.push(buffered);
        else pending = buffered;
      } else if (mode === 'array') {
        yield* splitter.push(text);
      } else {
        pending += text;
      }
      if (mode === 'lines' || mode === 'sse') {
        const lines = pending.split('\n');
        pending = done ? '' : lines.pop()!;
        for (const raw of lines) {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (mode === 'lines') {
            if (line.trim() !== '') yield line;
          } else if (line === '') {
            if (sseData.length > 0) yield sseData.join('\n');
            sseData = [];
          } else if (line.startsWith('data:')) {
            sseData.push(line.slice(line.startsWith('data: ') ? 6 : 5));
          }
        }
        if (done && sseData.length > 0) yield sseData.join('\n');
      }
      if (done) break;
    }
    if (mode === 'array' && !splitter.closed) throw new SyntaxError('the stream ended before its JSON array was closed');
    finished = true;
  } finally {
    // Leaving a for-await early (break, throw) must close the connection, not leave it half-read.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** Sends requests for the generated service clients; one per client, shared by all its services. */
export class Transport {
  private readonly options: ClientOptions;
  private readonly base: string;

  constructor(options: ClientOptions) {
    if (!options.baseUrl) throw new TypeError('ClientOptions.baseUrl is required');
    this.options = options;
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  private async send(route: Route, request: object, call: CallOptions | undefined, accept: string): Promise<Response> {
    const { path, query, body } = encodeRequest(route, request);
    const headers = new Headers(this.options.headers);
    for (const [name, value] of new Headers(call?.headers)) headers.set(name, value);
    headers.set('accept', accept);
    if (body !== undefined) headers.set('content-type', 'application/json');
    if (!route.public && !headers.has('authorization')) {
      const token = this.options.getToken ? await this.options.getToken() : this.options.token;
      if (token) headers.set('authorization', `Bearer ${token}`);
    }
    const doFetch = this.options.fetch ?? globalThis.fetch;
    let response: Response;
    try {
      // Called on globalThis: a browser's fetch throws "Illegal invocation" when called as a method of `options`.
      response = await doFetch.call(globalThis, `${this.base}${path}${query}`, { method: route.method, headers, body, signal: call?.signal });
    } catch (cause) {
      if (call?.signal?.aborted) throw cause;
      throw new ApiError({ code: Code.UNAVAILABLE, message: `${route.method} ${path} failed: ${String(cause)}`, httpStatus: 0, procedure: route.procedure, cause });
    }
    if (!response.ok) throw await errorFromResponse(route.procedure, response);
    return response;
  }

  async unary<Res>(route: Route, request: object, call?: CallOptions): Promise<Res> {
    const response = await this.send(route, request, call, 'application/json');
    const text = await response.text();
    return (text.trim() === '' ? {} : JSON.parse(text)) as Res;
  }

  async *serverStream<Res>(route: Route, request: object, call?: CallOptions): AsyncGenerator<Res, void, undefined> {
    const response = await this.send(route, request, call, 'application/json, application/x-ndjson, text/event-stream');
    if (!response.body) return;
    const framing = (response.headers.get('content-type') ?? '').includes('text/event-stream') ? 'sse' : undefined;
    try {
      for await (const frame of frames(response.body, framing)) yield JSON.parse(frame) as Res;
    } catch (cause) {
      if (call?.signal?.aborted) throw cause;
      // Once the stream started the edge cannot change the HTTP status (a late gRPC status travels in HTTP
      // trailers, which fetch does not expose): a malformed or cut body is all a client gets to see.
      const code = cause instanceof SyntaxError ? Code.UNKNOWN : Code.UNAVAILABLE;
      throw new ApiError({ code, message: `${route.procedure}: the stream broke off: ${String(cause instanceof Error ? cause.message : cause)}`, httpStatus: response.status, procedure: route.procedure, cause });
    }
  }
}
