/** A response as the suite inspects it. */
export interface RestResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
}

export interface RestRequest {
  token?: string;
  headers?: Record<string, string>;
  /** A raw body string sent as is; otherwise `body` is JSON-encoded. */
  raw?: string;
}

/** Plain fetch against the base URL, so the suite depends on nothing but HTTP. */
export function restApi(baseUrl: string) {
  async function send(method: string, path: string, body?: unknown, options: RestRequest = {}): Promise<RestResponse> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let payload: string | undefined = options.raw;
    if (payload === undefined && body !== undefined) payload = JSON.stringify(body);
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    const response = await fetch(baseUrl + path, { method, headers, body: payload });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }
  return {
    get: (path: string, options?: RestRequest) => send('GET', path, undefined, options),
    post: (path: string, body?: unknown, options?: RestRequest) => send('POST', path, body, options),
    patch: (path: string, body?: unknown, options?: RestRequest) => send('PATCH', path, body, options),
    delete: (path: string, options?: RestRequest) => send('DELETE', path, undefined, options),
    send,
  };
}

export type RestApi = ReturnType<typeof restApi>;

/** A fresh e-mail address per call, so the suite can run repeatedly against one deployment. */
export function uniqueEmail(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@conformance.example`;
}

/** Asserts the google.rpc.Status error shape and returns it. */
export function errorOf(response: RestResponse): { code: number; message: string; details: any[] } {
  const body = response.json;
  if (typeof body?.code !== 'number' || typeof body?.message !== 'string' || !Array.isArray(body?.details)) {
    throw new Error(`not a {"code","message","details"} error body (HTTP ${response.status}): ${response.text}`);
  }
  return body;
}
