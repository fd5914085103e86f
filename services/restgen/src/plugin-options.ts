/** How the edge frames a server stream: Envoy's print_options (default: one JSON array). */
export type StreamFraming = 'json_array' | 'newline_delimited' | 'sse';

/** Options both Taskmesh plugins take (buf.gen.yaml `opt:`), besides protoplugin's own. */
export interface RestPluginOptions {
  /** Fully qualified RPCs that need no access token, e.g. taskmesh.identity.v1.IdentityService.SignUp. */
  publicMethods: string[];
  /** Documented in OpenAPI; the client reads all three framings regardless. */
  streamFraming: StreamFraming;
}

const framings: readonly StreamFraming[] = ['json_array', 'newline_delimited', 'sse'];

export function parsePluginOptions(raw: { key: string; value: string }[]): RestPluginOptions {
  const options: RestPluginOptions = { publicMethods: [], streamFraming: 'json_array' };
  for (const { key, value } of raw) {
    switch (key) {
      case 'public_method':
        if (!/^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$/.test(value)) throw new Error(`public_method=${value} is not a fully qualified method name`);
        options.publicMethods.push(value);
        break;
      case 'stream_framing':
        if (!framings.includes(value as StreamFraming)) throw new Error(`stream_framing=${value}: expected one of ${framings.join(', ')}`);
        options.streamFraming = value as StreamFraming;
        break;
      default:
        throw new Error(`unknown option "${key}"`);
    }
  }
  return options;
}
