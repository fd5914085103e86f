import { readFileSync } from 'node:fs';
import { ScalarType } from '@bufbuild/protobuf';
import { FeatureSet_FieldPresence } from '@bufbuild/protobuf/wkt';
import type { DescEnum, DescField, DescFile, DescMessage, DescMethod, DescService } from '@bufbuild/protobuf';
import { createEcmaScriptPlugin, type GeneratedFile, type Printable, type Schema } from '@bufbuild/protoplugin';
import { protoDoc } from './comments.ts';
import { displayPath } from './display-path.ts';
import { HttpAnnotations, isProjectFile, type HttpBinding } from './http-bindings.ts';
import { isMultiSegment } from './path-template.ts';
import { parsePluginOptions, type RestPluginOptions } from './plugin-options.ts';
import { localTypeName, reachableTypes } from './reachable-types.ts';

const pluginName = 'protoc-gen-taskmesh-rest';
const pluginVersion = 'v0.1.0';
const runtimePath = './runtime.js';

const runtimeSource = readFileSync(new URL('./client-runtime.ts', import.meta.url), 'utf8');

function importPathOf(file: DescFile): string {
  return `./${file.proto.name.replace(/\.proto$/, '')}.js`;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function docComment(text: string, indent: string): string[] {
  if (!text) return [];
  const lines = text.replaceAll('*/', '*\\/').split('\n');
  if (lines.length === 1) return [`${indent}/** ${lines[0]} */`];
  return [`${indent}/**`, ...lines.map((l) => (l ? `${indent} * ${l}` : `${indent} *`)), `${indent} */`];
}

function scalarTs(scalar: ScalarType): string {
  switch (scalar) {
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      return 'string'; // 64-bit integers are JSON strings: a JS number cannot hold them exactly.
    case ScalarType.BOOL:
      return 'boolean';
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return 'string'; // bytes are base64
    default:
      return 'number';
  }
}

class ClientFileWriter {
  constructor(
    private readonly f: GeneratedFile,
    private readonly resourcePatterns: readonly (readonly string[])[],
  ) {}

  typeRef(desc: DescMessage | DescEnum): Printable {
    if (desc.kind === 'message') {
      switch (desc.typeName) {
        case 'google.protobuf.Timestamp':
        case 'google.protobuf.Duration':
        case 'google.protobuf.FieldMask':
        case 'google.protobuf.StringValue':
        case 'google.protobuf.BytesValue':
        case 'google.protobuf.Int64Value':
        case 'google.protobuf.UInt64Value':
          return 'string';
        case 'google.protobuf.BoolValue':
          return 'boolean';
        case 'google.protobuf.Int32Value':
        case 'google.protobuf.UInt32Value':
        case 'google.protobuf.FloatValue':
        case 'google.protobuf.DoubleValue':
          return 'number';
        case 'google.protobuf.Empty':
          return 'Record<string, never>';
        case 'google.protobuf.Struct':
          return ['{ [key: string]: ', this.f.import('JsonValue', runtimePath, true), ' }'];
        case 'google.protobuf.Value':
          return this.f.import('JsonValue', runtimePath, true);
        case 'google.protobuf.ListValue':
          return [this.f.import('JsonValue', runtimePath, true), '[]'];
        case 'google.protobuf.Any':
          return this.f.import('AnyJson', runtimePath, true);
      }
    }
    return this.f.import(localTypeName(desc), importPathOf(desc.file), true);
  }

  fieldType(field: DescField): Printable {
    switch (field.fieldKind) {
      case 'scalar':
        return scalarTs(field.scalar);
      case 'enum':
        return this.typeRef(field.enum);
      case 'message':
        return this.typeRef(field.message);
      case 'list': {
        const item = field.listKind === 'scalar' ? scalarTs(field.scalar) : field.listKind === 'enum' ? this.typeRef(field.enum) : this.typeRef(field.message);
        return [item, '[]'];
      }
      case 'map': {
        const value = field.mapKind === 'scalar' ? scalarTs(field.scalar) : field.mapKind === 'enum' ? this.typeRef(field.enum) : this.typeRef(field.message);
        return ['{ [key: string]: ', value, ' }'];
      }
    }
  }

  enumDecl(desc: DescEnum): void {
    const f = this.f;
    for (const line of docComment(protoDoc(desc), '')) f.print(line);
    const names = desc.values.map((v) => JSON.stringify(v.name));
    f.print(f.export('type', localTypeName(desc)), ' = ', names.join(' | '), ';');
    f.print();
  }

  messageDecl(desc: DescMessage): void {
    const f = this.f;
    for (const line of docComment(protoDoc(desc), '')) f.print(line);
    if (desc.fields.length === 0) {
      f.print(f.export('type', localTypeName(desc)), ' = Record<string, never>;');
      f.print();
      return;
    }
    f.print(f.export('interface', localTypeName(desc)), ' {');
    for (const field of desc.fields) {
      for (const line of docComment(protoDoc(field), '  ')) f.print(line);
      // As the edge prints: fields without presence (plain scalars, enums, lists, maps) are always present.
      const alwaysPrinted =
        field.fieldKind === 'list' || field.fieldKind === 'map' || (field.oneof === undefined && field.presence === FeatureSet_FieldPresence.IMPLICIT && field.fieldKind !== 'message');
      // A custom json_name may be any string; quote it unless it is a plain identifier.
      const key = /^[A-Za-z_$][\w$]*$/.test(field.jsonName) ? field.jsonName : JSON.stringify(field.jsonName);
      f.print('  ', key, alwaysPrinted ? ': ' : '?: ', this.fieldType(field), ';');
    }
    f.print('}');
    f.print();
  }

  /** `{ name: string }` or `{ task: { name: string } }`: the fields the URL path cannot do without. */
  private requiredPathType(binding: HttpBinding): Printable[] {
    const out: Printable[] = [];
    for (const variable of binding.variables) {
      const names = variable.fields.map((fd) => fd.jsonName);
      const leaf = variable.fields[variable.fields.length - 1]!;
      out.push(' & ', names.map((n) => `{ ${n}: `).join(''), this.fieldType(leaf), ' }'.repeat(names.length));
    }
    return out;
  }

  serviceDecl(service: DescService, methods: { method: DescMethod; binding: HttpBinding; isPublic: boolean }[]): void {
    const f = this.f;
    const routesName = `${lowerFirst(service.name)}Routes`;
    const routeType = f.import('Route', runtimePath, true);
    f.print('const ', routesName, ' = {');
    for (const { method, binding, isPublic } of methods) {
      const path = binding.parts.map((part) =>
        part.kind === 'literal'
          ? JSON.stringify(part.text)
          : `{ field: ${JSON.stringify(binding.variables.find((v) => v.part === part)!.fields.map((fd) => fd.jsonName).join('.'))}, multi: ${isMultiSegment(part)} }`,
      );
      const body = binding.bodyField ? binding.bodyField.jsonName : binding.body;
      f.print('  ', lowerFirst(method.name), ': {');
      f.print('    procedure: ', JSON.stringify(`${service.typeName}/${method.name}`), ',');
      f.print('    method: ', JSON.stringify(binding.httpMethod), ',');
      f.print('    path: [', path.join(', '), '],');
      f.print('    body: ', JSON.stringify(body), ',');
      f.print('    public: ', isPublic, ',');
      f.print('  },');
    }
    f.print('} satisfies Record<string, ', routeType, '>;');
    f.print();

    const serviceDoc = protoDoc(service);
    for (const line of docComment(`${serviceDoc ? `${serviceDoc}\n\n` : ''}REST client for ${service.typeName}.`, '')) f.print(line);
    f.print(f.export('class', `${service.name}Client`), ' {');
    f.print('  private readonly transport: ', f.import('Transport', runtimePath, true), ';');
    f.print();
    f.print('  constructor(transport: ', f.import('Transport', runtimePath, true), ') {');
    f.print('    this.transport = transport;');
    f.print('  }');
    for (const { method, binding, isPublic } of methods) {
      const input = this.typeRef(method.input);
      const output: Printable = binding.responseBodyField ? this.fieldType(binding.responseBodyField) : this.typeRef(method.output);
      const { path } = displayPath(binding, this.resourcePatterns);
      const doc = [protoDoc(method), `\`${binding.httpMethod} ${path}\`${isPublic ? ' (no sign-in needed)' : ''}`].filter(Boolean).join('\n\n');
      const requestType: Printable[] = [f.import('PartialMessage', runtimePath, true), '<', input, '>', ...this.requiredPathType(binding)];
      const requestParam: Printable[] = binding.variables.length > 0 ? ['request: ', ...requestType] : ['request: ', ...requestType, ' = {}'];
      const callOptions = f.import('CallOptions', runtimePath, true);
      const route = `${routesName}.${lowerFirst(method.name)}`;
      f.print();
      for (const line of docComment(doc, '  ')) f.print(line);
      if (method.methodKind === 'server_streaming') {
        f.print('  ', lowerFirst(method.name), '(', ...requestParam, ', options?: ', callOptions, '): AsyncGenerator<', output, ', void, undefined> {');
        f.print('    return this.transport.serverStream<', output, '>(', route, ', request, options);');
      } else {
        f.print('  ', lowerFirst(method.name), '(', ...requestParam, ', options?: ', callOptions, '): Promise<', output, '> {');
        f.print('    return this.transport.unary<', output, '>(', route, ', request, options);');
      }
      f.print('  }');
    }
    f.print('}');
    f.print();
  }
}

function clientPropertyName(service: DescService): string {
  return lowerFirst(service.name.replace(/Service$/, '') || service.name);
}

function generateTs(schema: Schema<RestPluginOptions>): void {
  const files = schema.files.filter(isProjectFile);
  const annotations = new HttpAnnotations(schema.allFiles);
  const bound = annotations.services(files);
  if (bound.length === 0) return;

  const publicMethods = new Set(schema.options.publicMethods);
  const known = new Set(bound.flatMap(({ service, methods }) => methods.map(({ method }) => `${service.typeName}.${method.name}`)));
  for (const name of publicMethods) {
    if (!known.has(name)) throw new Error(`${pluginName}: public_method=${name} names no HTTP-bound RPC`);
  }

  const reachable = reachableTypes(bound.flatMap(({ methods }) => methods.flatMap(({ method }) => [method.input, method.output])));

  // One output file per proto file that declares a reachable type or a bound service, in request order.
  const exportsByFile = new Map<DescFile, string[]>();
  for (const file of schema.allFiles) {
    const types = [...schema.typesInFile(file)].filter((t): t is DescMessage | DescEnum => (t.kind === 'message' || t.kind === 'enum') && reachable.has(t));
    const services = bound.filter((b) => b.service.file === file);
    if (types.length === 0 && services.length === 0) continue;
    const f = schema.generateFile(`${file.proto.name.replace(/\.proto$/, '')}.ts`);
    f.preamble(file);
    const writer = new ClientFileWriter(f, annotations.resourcePatterns);
    const names: string[] = [];
    for (const type of types) {
      if (type.kind === 'enum') writer.enumDecl(type);
      else writer.messageDecl(type);
      names.push(localTypeName(type));
    }
    for (const { service, methods } of services) {
      writer.serviceDecl(
        service,
        methods.map(({ method, bindings }) => ({ method, binding: bindings[0]!, isPublic: publicMethods.has(`${service.typeName}.${method.name}`) })),
      );
      names.push(`${service.name}Client`);
    }
    exportsByFile.set(file, names);
  }

  const header = `// @generated by ${pluginName} ${pluginVersion}. Do not edit: run npm run generate.\n`;
  const runtime = schema.generateFile('runtime.ts');
  runtime.print(header);
  runtime.print(runtimeSource.trimEnd());

  const properties = new Map<string, DescService>();
  for (const { service } of bound) {
    const prop = clientPropertyName(service);
    const clash = properties.get(prop);
    if (clash) throw new Error(`${pluginName}: ${service.typeName} and ${clash.typeName} would both be client.${prop}`);
    properties.set(prop, service);
  }
  // index.ts: one client object holding every service, plus re-exports of every name that is unique.
  const index = schema.generateFile('index.ts');
  index.print(header);
  index.print('// The typed REST client for the Taskmesh API. Start with createClient({ baseUrl, getToken }).');
  index.print();
  // Imports are written by hand here so they follow the header rather than precede it.
  for (const [, service] of properties) index.print('import { ', service.name, "Client } from '", importPathOf(service.file), "';");
  index.print("import { Transport, type ClientOptions } from './runtime.js';");
  index.print();
  const counts = new Map<string, number>();
  for (const names of exportsByFile.values()) for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  index.print("export { ApiError, Code, Transport, encodeRequest } from './runtime.js';");
  index.print("export type { AnyJson, CallOptions, ClientOptions, CodeName, JsonValue, PartialMessage, Route } from './runtime.js';");
  for (const [file, names] of exportsByFile) {
    const unique = names.filter((n) => counts.get(n) === 1);
    const clients = new Set(bound.filter((b) => b.service.file === file).map((b) => `${b.service.name}Client`));
    const values = unique.filter((n) => clients.has(n));
    const types = unique.filter((n) => !values.includes(n));
    if (values.length > 0) index.print('export { ', values.join(', '), " } from '", importPathOf(file), "';");
    if (types.length > 0) index.print('export type { ', types.join(', '), " } from '", importPathOf(file), "';");
  }
  index.print();
  index.print('/** Every HTTP-bound service of the API, sharing one base URL, token source and fetch. */');
  index.print('export class TaskmeshClient {');
  for (const [prop, service] of properties) index.print('  readonly ', prop, ': ', service.name, 'Client;');
  index.print();
  index.print('  constructor(options: ClientOptions) {');
  index.print('    const transport = new Transport(options);');
  for (const [prop, service] of properties) index.print('    this.', prop, ' = new ', service.name, 'Client(transport);');
  index.print('  }');
  index.print('}');
  index.print();
  index.print('export function createClient(options: ClientOptions): TaskmeshClient {');
  index.print('  return new TaskmeshClient(options);');
  index.print('}');
}

export const restClientPlugin = createEcmaScriptPlugin<RestPluginOptions>({
  name: pluginName,
  version: pluginVersion,
  parseOptions: parsePluginOptions,
  generateTs,
});
