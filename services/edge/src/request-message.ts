import { create, fromJson, mergeFromJson, toBinary, ScalarType } from '@bufbuild/protobuf';
import type { DescField, DescMessage, JsonObject, JsonValue, Registry } from '@bufbuild/protobuf';
import { resolveFieldPath } from './http-bindings.ts';
import type { HttpBinding } from './http-bindings.ts';
import { TranscodingError } from './transcoding-error.ts';
import { MalformedEscapeError, unescapeQueryComponent } from './url-escaping.ts';

/**
 * Builds the gRPC request message of a matched HTTP binding the way Envoy weaves it: the body first
 * (`*` → the whole message, `field` → that field), then query parameters, then path variables, so a
 * value bound by the path wins over the same field in the query or body.
 */
export function encodeRequestMessage(input: {
  binding: HttpBinding;
  registry: Registry;
  pathBindings: { fieldPath: string[]; value: string }[];
  rawQuery: string;
  bodyText: string | undefined;
  /** Query parameters dropped before mapping (Envoy's ignored_query_parameters). */
  ignoredQueryParameters?: ReadonlySet<string>;
}): Uint8Array {
  if (input.rawQuery === '') {
    const direct = pathOnlyMessage(input.binding, input.pathBindings);
    if (direct !== undefined) return direct;
  }
  return encodeRequestMessageReflectively(input);
}

/** The general path of encodeRequestMessage, through a message object; exported for the tests' comparison. */
export function encodeRequestMessageReflectively(input: Parameters<typeof encodeRequestMessage>[0]): Uint8Array {
  const { binding, registry } = input;
  const schema = binding.method.input;
  const message = decodeBody(binding, registry, input.bodyText);
  for (const [name, values] of parseQuery(input.rawQuery)) {
    if (input.ignoredQueryParameters?.has(name)) continue;
    const fields = resolveFieldPath(schema, name.split('.'));
    if (!fields) throw new TranscodingError(400, 3, `unknown query parameter ${JSON.stringify(name)} for ${schema.typeName}`);
    merge(schema, message, fields, values, registry, `query parameter ${JSON.stringify(name)}`);
  }
  for (const { fieldPath, value } of input.pathBindings) {
    const fields = resolveFieldPath(schema, fieldPath)!;
    merge(schema, message, fields, [value], registry, `path variable ${fieldPath.join('.')}`);
  }
  return toBinary(schema, message);
}

function decodeBody(binding: HttpBinding, registry: Registry, bodyText: string | undefined) {
  const schema = binding.method.input;
  if (binding.body === undefined) return create(schema);
  let json: JsonValue | undefined;
  if (bodyText !== undefined && bodyText.trim() !== '') {
    try {
      json = JSON.parse(bodyText) as JsonValue;
    } catch (error) {
      throw new TranscodingError(400, 3, `request body is not valid JSON: ${(error as Error).message}`);
    }
    rejectIllFormedStrings(json, binding.body === '*' ? '' : binding.body.jsonName);
  }
  try {
    if (binding.body === '*') {
      if (json !== undefined && (typeof json !== 'object' || json === null || Array.isArray(json))) {
        throw new TranscodingError(400, 3, `request body must be a JSON object (${schema.typeName})`);
      }
      return fromJson(schema, json ?? {}, { registry });
    }
    const message = create(schema);
    if (json !== undefined) mergeFromJson(schema, message, { [binding.body.jsonName]: json }, { registry });
    return message;
  } catch (error) {
    if (error instanceof TranscodingError) throw error;
    throw new TranscodingError(400, 3, `request body does not match ${schema.typeName}: ${(error as Error).message}`);
  }
}

/**
 * A JSON escape can spell an unpaired surrogate (`"\ud800"`), which no UTF-8 encoding can carry: protobuf would
 * silently turn it into U+FFFD, so it is refused here, naming where it is. Every other string rule is the
 * services' (services/runtime/src/request-strings.ts).
 */
function rejectIllFormedStrings(json: JsonValue, root: string): void {
  // Iterative: a body may nest arrays tens of thousands deep.
  const pending: [JsonValue, string][] = [[json, root]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (value.isWellFormed()) continue;
      const field = path === '' ? '(body)' : path;
      throw new TranscodingError(400, 3, `${field}: must be valid UTF-8 (no unpaired surrogates)`, [
        { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description: 'must be valid UTF-8 (no unpaired surrogates)' }] },
      ]);
    }
    if (Array.isArray(value)) value.forEach((item, i) => pending.push([item, `${path}[${i}]`]));
    else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) pending.push([item, path === '' ? key : `${path}.${key}`]);
    }
  }
}

/** Splits a raw query string into decoded names with all their values, in order of first appearance. */
export function parseQuery(rawQuery: string): Map<string, string[]> {
  const params = new Map<string, string[]>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = unescapeQueryComponent(eq >= 0 ? pair.slice(0, eq) : pair);
      value = eq >= 0 ? unescapeQueryComponent(pair.slice(eq + 1)) : '';
    } catch (error) {
      if (error instanceof MalformedEscapeError) throw new TranscodingError(400, 3, error.message);
      throw error;
    }
    if (name === '') continue;
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return params;
}

function merge(schema: DescMessage, message: ReturnType<typeof create>, fields: DescField[], values: string[], registry: Registry, what: string): void {
  for (const field of fields.slice(0, -1)) {
    if (field.fieldKind !== 'message') throw new TranscodingError(400, 3, `${what}: ${field.name} is not a singular message`);
  }
  const leaf = fields[fields.length - 1]!;
  let json: JsonValue = leafJson(leaf, values, what);
  for (const field of [...fields].reverse()) json = { [field.jsonName]: json } as JsonObject;
  try {
    mergeFromJson(schema, message, json, { registry });
  } catch (error) {
    throw new TranscodingError(400, 3, `${what}: ${(error as Error).message}`);
  }
}

function leafJson(field: DescField, values: string[], what: string): JsonValue {
  const last = values[values.length - 1]!;
  switch (field.fieldKind) {
    case 'scalar':
      return scalarJson(field.scalar, last, what);
    case 'enum':
      return enumJson(last);
    case 'message':
      return messageJson(field.message, last, what);
    case 'list':
      switch (field.listKind) {
        case 'scalar':
          return values.map((v) => scalarJson(field.scalar, v, what));
        case 'enum':
          return values.map(enumJson);
        case 'message':
          return values.map((v) => messageJson(field.message, v, what));
      }
      break;
    case 'map':
      break;
  }
  throw new TranscodingError(400, 3, `${what}: map fields cannot be set from the URL`);
}

function enumJson(value: string): JsonValue {
  return /^-?\d+$/.test(value) ? Number(value) : value;
}

function scalarJson(type: ScalarType, value: string, what: string): JsonValue {
  switch (type) {
    case ScalarType.BOOL:
      if (value === 'true') return true;
      if (value === 'false') return false;
      throw new TranscodingError(400, 3, `${what}: ${JSON.stringify(value)} is not a boolean`);
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      // Numbers stay strings when they are not plain decimals so the JSON reader reports them.
      return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value) ? Number(value) : value;
    default:
      // 64-bit integers are strings in JSON; strings and bytes (base64) pass as they are.
      return value;
  }
}

/** Well-known types whose JSON form is a string or a scalar can be set from one URL value. */
function messageJson(message: DescMessage, value: string, what: string): JsonValue {
  switch (message.typeName) {
    case 'google.protobuf.FieldMask':
    case 'google.protobuf.Timestamp':
    case 'google.protobuf.Duration':
    case 'google.protobuf.StringValue':
    case 'google.protobuf.BytesValue':
    case 'google.protobuf.Int64Value':
    case 'google.protobuf.UInt64Value':
    case 'google.protobuf.Value':
      return value;
    case 'google.protobuf.BoolValue':
      return scalarJson(ScalarType.BOOL, value, what);
    case 'google.protobuf.Int32Value':
    case 'google.protobuf.UInt32Value':
    case 'google.protobuf.FloatValue':
    case 'google.protobuf.DoubleValue':
      return scalarJson(ScalarType.DOUBLE, value, what);
  }
  throw new TranscodingError(400, 3, `${what}: message field of type ${message.typeName} cannot be set from the URL`);
}

/**
 * The request of a binding without a body whose path variables each bind a plain string field of the request
 * message itself (`GET /v1/{name=…}` and the like: most reads), with no query string: written straight to the
 * wire instead of through a message object, JSON merges and the reflective encoder. Fields in number order,
 * each as tag, length and UTF-8 bytes, which is what toBinary writes for the message the general path builds
 * (request-message.test.ts compares them for every such binding). Anything else — nested or non-string
 * fields, oneof members, two variables on one field, an empty or ill-formed value — takes the general path.
 */
interface PathOnlyPlan {
  /** per field in number order: its tag byte(s) and the index of the path binding that fills it */
  fields: { tag: Buffer; binding: number }[];
}

const pathOnlyPlans = new WeakMap<HttpBinding, PathOnlyPlan | null>();

/** Whether a binding's requests without a query string are written directly; exported for tests. */
export function hasPathOnlyPlan(binding: HttpBinding): boolean {
  return pathOnlyPlanOf(binding) !== null;
}

function pathOnlyPlanOf(binding: HttpBinding): PathOnlyPlan | null {
  let plan = pathOnlyPlans.get(binding);
  if (plan !== undefined) return plan;
  plan = null;
  if (binding.body === undefined) {
    const fields = binding.template.variables.map((variable) => resolveFieldPath(binding.method.input, variable.fieldPath));
    const plain = fields.every((path) => path?.length === 1 && path[0]!.fieldKind === 'scalar' && path[0]!.scalar === ScalarType.STRING && path[0]!.oneof === undefined);
    const numbers = new Set(fields.map((path) => path?.[0]?.number));
    if (fields.length > 0 && plain && numbers.size === fields.length) {
      plan = {
        fields: fields
          .map((path, index) => ({ tag: varint((path![0]!.number << 3) | 2), binding: index, number: path![0]!.number }))
          .sort((a, b) => a.number - b.number)
          .map(({ tag, binding: index }) => ({ tag, binding: index })),
      };
    }
  }
  pathOnlyPlans.set(binding, plan);
  return plan;
}

function pathOnlyMessage(binding: HttpBinding, pathBindings: { value: string }[]): Uint8Array | undefined {
  const plan = pathOnlyPlanOf(binding);
  if (plan === null || pathBindings.length !== plan.fields.length) return undefined;
  let size = 0;
  for (const field of plan.fields) {
    const value = pathBindings[field.binding]!.value;
    // The encoder refuses a string that is not valid UTF-16 (a 400); the general path reports it.
    if (value === '' || !value.isWellFormed()) return undefined;
    const length = Buffer.byteLength(value, 'utf8');
    size += field.tag.length + varintLength(length) + length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const field of plan.fields) {
    const value = pathBindings[field.binding]!.value;
    at += field.tag.copy(out, at);
    let length = Buffer.byteLength(value, 'utf8');
    while (length > 0x7f) {
      out[at++] = (length & 0x7f) | 0x80;
      length >>>= 7;
    }
    out[at++] = length;
    at += out.write(value, at, 'utf8');
  }
  return out;
}

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value >>> 0;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

function varintLength(value: number): number {
  let length = 1;
  while (value > 0x7f) {
    value >>>= 7;
    length++;
  }
  return length;
}
