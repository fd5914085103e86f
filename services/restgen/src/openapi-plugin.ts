import { createEcmaScriptPlugin, type Schema } from '@bufbuild/protoplugin';
import { HttpAnnotations, isProjectFile } from './http-bindings.ts';
import { OpenApiBuilder } from './openapi-document.ts';
import { parsePluginOptions, type RestPluginOptions } from './plugin-options.ts';

const pluginName = 'protoc-gen-taskmesh-openapi';

function generate(schema: Schema<RestPluginOptions>): void {
  const annotations = new HttpAnnotations(schema.allFiles);
  const bound = annotations.services(schema.files.filter(isProjectFile));
  if (bound.length === 0) return;
  const publicMethods = new Set(schema.options.publicMethods);
  const known = new Set(bound.flatMap(({ service, methods }) => methods.map(({ method }) => `${service.typeName}.${method.name}`)));
  for (const name of publicMethods) {
    if (!known.has(name)) throw new Error(`${pluginName}: public_method=${name} names no HTTP-bound RPC`);
  }
  const document = new OpenApiBuilder(annotations, bound, publicMethods, schema.options.streamFraming).build();
  // A plain JSON file: no preamble (JSON has no comments), nothing imported.
  schema.generateFile('openapi.json').print(JSON.stringify(document, null, 2));
}

export const openApiPlugin = createEcmaScriptPlugin<RestPluginOptions>({
  name: pluginName,
  version: 'v0.1.0',
  parseOptions: parsePluginOptions,
  generateTs: generate,
});
