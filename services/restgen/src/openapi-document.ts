import { ScalarType } from '@bufbuild/protobuf';
import type { DescEnum, DescField, DescMessage, DescMethod, DescService } from '@bufbuild/protobuf';
import { protoDoc } from './comments.ts';
import { FieldBehavior, type HttpAnnotations, type HttpBinding } from './http-bindings.ts';
import { displayPath, type PathParameter } from './display-path.ts';
import type { StreamFraming } from './plugin-options.ts';
import { inlineWellKnownTypes, localTypeName, reachableTypes } from './reachable-types.ts';

// Plain JSON, built in a fixed order so the printed document is byte-for-byte reproducible.
type Json = null | boolean | number | string | Json[] | { [key: string]: Json | undefined };
type Schema = { [key: string]: Json | undefined };

export interface BoundService {
  service: DescService;
  methods: { method: DescMethod; bindings: HttpBinding[] }[];
}

const errorSchemaName = 'Status';
const anySchemaName = 'Any';

function scalarSchema(scalar: ScalarType): Schema {
  switch (scalar) {
    case ScalarType.STRING:
      return { type: 'string' };
    case ScalarType.BYTES:
      return { type: 'string', contentEncoding: 'base64' };
    case ScalarType.BOOL:
      return { type: 'boolean' };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: 'integer', format: 'int32' };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: 'integer', format: 'int64', minimum: 0, maximum: 4294967295 };
    // 64-bit integers travel as JSON strings (a double cannot hold them exactly).
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: 'string', format: 'int64', pattern: '^-?[0-9]+$' };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: 'string', format: 'uint64', pattern: '^[0-9]+$' };
    case ScalarType.FLOAT:
      return { type: 'number', format: 'float' };
    case ScalarType.DOUBLE:
      return { type: 'number', format: 'double' };
  }
}

function wellKnownSchema(typeName: string): Schema | undefined {
  switch (typeName) {
    case 'google.protobuf.Timestamp':
      return { type: 'string', format: 'date-time', description: 'RFC 3339 timestamp in UTC, e.g. 2026-11-23T10:00:00Z.' };
    case 'google.protobuf.Duration':
      return { type: 'string', pattern: '^-?[0-9]+(\\.[0-9]{1,9})?s$', description: 'Duration in seconds with an "s" suffix, e.g. 1.5s.' };
    case 'google.protobuf.FieldMask':
      return { type: 'string', description: 'Comma-separated lowerCamelCase field paths, e.g. title,status.' };
    case 'google.protobuf.Empty':
      return { type: 'object', additionalProperties: false };
    case 'google.protobuf.Struct':
      return { type: 'object', additionalProperties: true };
    case 'google.protobuf.Value':
      return {};
    case 'google.protobuf.ListValue':
      return { type: 'array', items: {} };
    case 'google.protobuf.Any':
      return { $ref: `#/components/schemas/${anySchemaName}` };
    case 'google.protobuf.StringValue':
      return { type: ['string', 'null'] };
    case 'google.protobuf.BytesValue':
      return { type: ['string', 'null'], contentEncoding: 'base64' };
    case 'google.protobuf.BoolValue':
      return { type: ['boolean', 'null'] };
    case 'google.protobuf.Int32Value':
      return { type: ['integer', 'null'], format: 'int32' };
    case 'google.protobuf.UInt32Value':
      return { type: ['integer', 'null'], minimum: 0, maximum: 4294967295 };
    case 'google.protobuf.Int64Value':
      return { type: ['string', 'null'], format: 'int64' };
    case 'google.protobuf.UInt64Value':
      return { type: ['string', 'null'], format: 'uint64' };
    case 'google.protobuf.FloatValue':
      return { type: ['number', 'null'], format: 'float' };
    case 'google.protobuf.DoubleValue':
      return { type: ['number', 'null'], format: 'double' };
  }
  return undefined;
}

/** Well-known types that arrive as one query value (a string or primitive), as the transcoder accepts them. */
const queryableWellKnownTypes = new Set([
  'google.protobuf.Timestamp',
  'google.protobuf.Duration',
  'google.protobuf.FieldMask',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
  'google.protobuf.BoolValue',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.FloatValue',
  'google.protobuf.DoubleValue',
]);

function firstSentence(text: string): string {
  const paragraph = text.split('\n\n')[0]!.replaceAll('\n', ' ');
  const end = paragraph.search(/\.(\s|$)/);
  return end < 0 ? paragraph : paragraph.slice(0, end + 1);
}

export class OpenApiBuilder {
  private readonly componentNames = new Map<DescMessage | DescEnum, string>();
  private readonly schemas = new Map<string, Schema>();
  /** Body schemas made from a request message minus its path fields. */
  private readonly derived = new Set<string>();

  constructor(
    private readonly annotations: HttpAnnotations,
    private readonly bound: readonly BoundService[],
    private readonly publicMethods: ReadonlySet<string>,
    private readonly streamFraming: StreamFraming = 'json_array',
  ) {
    const types = [...reachableTypes(bound.flatMap(({ methods }) => methods.flatMap(({ method }) => [method.input, method.output])))];
    // Short names where unique; the full proto name (dots are legal in component names) where two packages clash.
    const taken = new Map<string, number>([[errorSchemaName, 1], [anySchemaName, 1]]);
    for (const t of types) taken.set(localTypeName(t), (taken.get(localTypeName(t)) ?? 0) + 1);
    for (const t of types) this.componentNames.set(t, taken.get(localTypeName(t))! > 1 ? t.typeName : localTypeName(t));
    for (const t of types) this.schemas.set(this.componentNames.get(t)!, t.kind === 'enum' ? this.enumSchema(t) : this.messageSchema(t));
  }

  private ref(desc: DescMessage | DescEnum): Schema {
    if (desc.kind === 'message' && inlineWellKnownTypes.has(desc.typeName)) return wellKnownSchema(desc.typeName)!;
    return { $ref: `#/components/schemas/${this.componentNames.get(desc)!}` };
  }

  private valueSchema(field: DescField): Schema {
    switch (field.fieldKind) {
      case 'scalar':
        return scalarSchema(field.scalar);
      case 'enum':
        return this.ref(field.enum);
      case 'message':
        return this.ref(field.message);
      case 'list':
        return {
          type: 'array',
          items: field.listKind === 'scalar' ? scalarSchema(field.scalar) : field.listKind === 'enum' ? this.ref(field.enum) : this.ref(field.message),
        };
      case 'map':
        return {
          type: 'object',
          additionalProperties: field.mapKind === 'scalar' ? scalarSchema(field.scalar) : field.mapKind === 'enum' ? this.ref(field.enum) : this.ref(field.message),
        };
    }
  }

  private fieldSchema(field: DescField): Schema {
    const behaviors = this.annotations.behaviors(field);
    const schema: Schema = { ...this.valueSchema(field) };
    const doc = protoDoc(field);
    if (doc) schema.description = typeof schema.description === 'string' ? `${doc}\n\n${schema.description}` : doc;
    if (behaviors.has(FieldBehavior.OUTPUT_ONLY)) schema.readOnly = true;
    if (behaviors.has(FieldBehavior.INPUT_ONLY)) schema.writeOnly = true;
    return schema;
  }

  private messageSchema(desc: DescMessage, omit: ReadonlySet<DescField> = new Set()): Schema {
    const properties: { [key: string]: Json } = {};
    const required: string[] = [];
    for (const field of desc.fields) {
      if (omit.has(field)) continue;
      properties[field.jsonName] = this.fieldSchema(field);
      if (this.annotations.behaviors(field).has(FieldBehavior.REQUIRED)) required.push(field.jsonName);
    }
    const doc = protoDoc(desc);
    return {
      type: 'object',
      ...(doc ? { description: doc } : {}),
      properties,
      ...(required.length > 0 ? { required } : {}),
    };
  }

  private enumSchema(desc: DescEnum): Schema {
    const doc = protoDoc(desc);
    const values = desc.values.map((v) => {
      const valueDoc = protoDoc(v);
      return valueDoc ? `- ${v.name}: ${valueDoc.replaceAll('\n', ' ')}` : '';
    });
    const valueList = values.filter(Boolean).join('\n');
    const description = [doc, valueList].filter(Boolean).join('\n\n');
    return { type: 'string', ...(description ? { description } : {}), enum: desc.values.map((v) => v.name) };
  }

  private pathParameter(param: PathParameter): Schema {
    const fieldDoc = protoDoc(param.field);
    const description = param.wildcard
      ? `${param.wildcard.segment === '**' ? 'Trailing segments' : 'One segment'} of \`${param.fieldPath}\` (\`${param.wildcard.pattern}\`).${fieldDoc ? ` ${fieldDoc}` : ''}`
      : fieldDoc;
    return { name: param.name, in: 'path', required: true, ...(description ? { description } : {}), schema: { type: 'string' } };
  }

  /** Query parameters for the fields left over by the path and body, flattened as the transcoder reads them. */
  private queryParameters(binding: HttpBinding): Schema[] {
    if (binding.body === '*') return [];
    const pathFields = binding.variables.map((v) => v.fields);
    const params: Schema[] = [];
    const walk = (message: DescMessage, prefix: DescField[], stack: DescMessage[]) => {
      for (const field of message.fields) {
        if (prefix.length === 0 && field === binding.bodyField) continue;
        const path = [...prefix, field];
        if (pathFields.some((p) => p.length === path.length && p.every((f, i) => f === path[i]))) continue;
        const name = path.map((f) => f.jsonName).join('.');
        const required = prefix.length === 0 && this.annotations.behaviors(field).has(FieldBehavior.REQUIRED);
        const param = (schema: Schema) => {
          const description = protoDoc(field);
          params.push({ name, in: 'query', ...(required ? { required: true } : {}), ...(description ? { description } : {}), schema });
        };
        if (field.fieldKind === 'scalar' || field.fieldKind === 'enum') param(this.valueSchema(field));
        else if (field.fieldKind === 'list' && field.listKind !== 'message') param(this.valueSchema(field));
        else if (field.fieldKind === 'message') {
          if (queryableWellKnownTypes.has(field.message.typeName)) param(wellKnownSchema(field.message.typeName)!);
          else if (!inlineWellKnownTypes.has(field.message.typeName) && !stack.includes(field.message)) {
            walk(field.message, path, [...stack, field.message]);
          }
        }
        // Repeated messages, maps, Struct/Value/Any cannot be spelled as query parameters: the transcoder rejects them.
      }
    };
    walk(binding.method.input, [], [binding.method.input]);
    return params;
  }

  private requestBody(binding: HttpBinding): Schema | undefined {
    let schema: Schema;
    if (binding.body === '') return undefined;
    if (binding.bodyField) {
      schema = this.valueSchema(binding.bodyField);
    } else {
      const inPath = new Set(binding.variables.filter((v) => v.fields.length === 1).map((v) => v.fields[0]!));
      if (inPath.size === 0) schema = this.ref(binding.method.input);
      else {
        // The fields the path already carries are left out of the body's schema.
        const name = `${this.componentNames.get(binding.method.input)!}Body`;
        if (this.schemas.has(name) && !this.derived.has(name)) throw new Error(`schema name ${name} is taken by a message`);
        this.derived.add(name);
        this.schemas.set(name, this.messageSchema(binding.method.input, inPath));
        schema = { $ref: `#/components/schemas/${name}` };
      }
    }
    return { required: true, content: { 'application/json': { schema } } };
  }


  /** A server stream's 200 response, framed as the edge's print_options say. */
  private streamResponse(message: Schema): Schema {
    const open = 'The connection stays open until the stream ends; a failure after the first message ends it with grpc-status in the HTTP trailers.';
    switch (this.streamFraming) {
      case 'json_array':
        return {
          description: `A server stream: one JSON array whose elements arrive as the server sends them ([{…},{…}]). ${open}`,
          content: { 'application/json': { schema: { type: 'array', items: message } } },
        };
      case 'newline_delimited':
        return {
          description: `A server stream, newline-delimited: every line of the body is one JSON message, sent as it happens. ${open}`,
          content: { 'application/json': { schema: message } },
        };
      case 'sse':
        return {
          description: `A server stream as server-sent events: every "data:" event is one JSON message. ${open}`,
          content: { 'text/event-stream': { schema: message } },
        };
    }
  }

  private operation(service: DescService, method: DescMethod, binding: HttpBinding, pathParams: Schema[]): Schema {
    const doc = protoDoc(method);
    const output: Schema = binding.responseBodyField ? this.valueSchema(binding.responseBodyField) : this.ref(method.output);
    const streaming = method.methodKind === 'server_streaming';
    const isPublic = this.publicMethods.has(`${service.typeName}.${method.name}`);
    const requestBody = this.requestBody(binding);
    return {
      operationId: `${service.name}_${method.name}${binding.index > 0 ? `_${binding.index}` : ''}`,
      tags: [service.name],
      ...(doc ? { summary: firstSentence(doc), description: doc } : {}),
      parameters: [...pathParams, ...this.queryParameters(binding)],
      ...(requestBody ? { requestBody } : {}),
      responses: {
        '200': streaming ? this.streamResponse(output) : { description: 'Success.', content: { 'application/json': { schema: output } } },
        default: {
          description: 'An error: a google.rpc.Status; the HTTP status follows its gRPC code (e.g. NOT_FOUND → 404).',
          content: { 'application/json': { schema: { $ref: `#/components/schemas/${errorSchemaName}` } } },
        },
      },
      ...(isPublic ? { security: [] } : {}),
    };
  }

  build(): Schema {
    const paths: { [path: string]: { [method: string]: Json } } = {};
    for (const { service, methods } of this.bound) {
      for (const { method, bindings } of methods) {
        for (const binding of bindings) {
          const { path, params } = displayPath(binding, this.annotations.resourcePatterns);
          const pathParams = params.map((p) => this.pathParameter(p));
          const verb = binding.httpMethod.toLowerCase();
          const item = (paths[path] ??= {});
          if (item[verb]) throw new Error(`${verb.toUpperCase()} ${path} is bound twice (${service.typeName}.${method.name})`);
          item[verb] = this.operation(service, method, binding, pathParams);
        }
      }
    }
    const sortedSchemas: { [name: string]: Json } = {};
    this.schemas.set(anySchemaName, {
      type: 'object',
      description: 'A google.protobuf.Any: "@type" names the message, the other members are its fields.',
      properties: { '@type': { type: 'string', description: 'Type URL, e.g. type.googleapis.com/google.rpc.ErrorInfo.' } },
      required: ['@type'],
      additionalProperties: true,
    });
    this.schemas.set(errorSchemaName, {
      type: 'object',
      description: 'The error body of every failed call (google.rpc.Status).',
      properties: {
        code: { type: 'integer', format: 'int32', description: 'The canonical gRPC status code, e.g. 5 for NOT_FOUND.' },
        message: { type: 'string', description: 'A developer-facing message in English.' },
        details: {
          type: 'array',
          description: 'Typed details such as google.rpc.ErrorInfo or google.rpc.BadRequest.',
          items: { $ref: `#/components/schemas/${anySchemaName}` },
        },
      },
      required: ['code', 'message'],
    });
    for (const name of [...this.schemas.keys()].sort()) sortedSchemas[name] = this.schemas.get(name)!;
    return {
      openapi: '3.1.0',
      info: {
        title: 'Taskmesh API',
        version: 'v1',
        description:
          'REST/JSON surface of the Taskmesh gRPC services, transcoded like Envoy\'s grpc_json_transcoder: lowerCamelCase JSON, enums as names, 64-bit integers as strings, RFC 3339 timestamps. Send "Authorization: Bearer <accessToken>" from SignUp, LogIn or Refresh.',
        license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
      },
      tags: this.bound.map(({ service }) => {
        const doc = protoDoc(service);
        return { name: service.name, ...(doc ? { description: doc } : {}) };
      }),
      security: [{ bearerAuth: [] }],
      paths,
      components: {
        schemas: sortedSchemas,
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The accessToken from SignUp, LogIn or Refresh.' },
        },
      },
    };
  }
}
