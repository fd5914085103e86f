/** Options both Taskmesh plugins take (buf.gen.yaml `opt:`), besides protoplugin's own. */
export interface RestPluginOptions {
  /** Fully qualified RPCs that need no access token, e.g. taskmesh.identity.v1.IdentityService.SignUp. */
  publicMethods: string[];
}

export function parsePluginOptions(raw: { key: string; value: string }[]): RestPluginOptions {
  const options: RestPluginOptions = { publicMethods: [] };
  for (const { key, value } of raw) {
    if (key !== 'public_method') throw new Error(`unknown option "${key}"`);
    if (!/^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$/.test(value)) throw new Error(`public_method=${value} is not a fully qualified method name`);
    options.publicMethods.push(value);
  }
  return options;
}
