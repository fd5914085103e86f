import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

/**
 * Envoy's config protos as shipped in @grpc/grpc-js-xds (deps/envoy-api plus its googleapis, validate
 * and xds deps), loaded with protobufjs on demand: a type named in an `@type` loads every file of its
 * package directory. They lag the newest Envoy a little, so a field Envoy added lately reads as unknown.
 */
export class EnvoySchema {
  private readonly root = new protobuf.Root();
  private readonly includeDirs = [
    ...['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(root, 'node_modules/@grpc/grpc-js-xds/deps', d)),
    join(root, 'node_modules/google-proto-files'),
  ];
  private readonly loadedDirs = new Set<string>();
  private readonly complete = new Map<string, boolean>();

  constructor() {
    this.root.resolvePath = (_origin, target) => this.locate(target) ?? target;
  }

  private locate(relative: string): string | undefined {
    for (const dir of this.includeDirs) {
      const candidate = join(dir, relative);
      if (existsSync(candidate)) return candidate;
    }
    return undefined;
  }

  /** The message type with this full name, or undefined when no proto of its package declares it. */
  type(fullName: string): protobuf.Type | undefined {
    const found = this.lookup(fullName);
    if (found) return found;
    // Load the package's directory; nested types are tried with shorter package prefixes.
    const parts = fullName.split('.');
    for (let cut = parts.length - 1; cut > 0; cut--) {
      const relativeDir = parts.slice(0, cut).join('/');
      if (this.loadedDirs.has(relativeDir)) continue;
      const files: string[] = [];
      for (const dir of this.includeDirs) {
        const absolute = join(dir, relativeDir);
        if (!existsSync(absolute)) continue;
        for (const name of readdirSync(absolute)) {
          // Files importing protos the package does not ship (opencensus, …) are left out.
          if (name.endsWith('.proto') && this.importsAvailable(join(relativeDir, name))) files.push(join(relativeDir, name));
        }
      }
      this.loadedDirs.add(relativeDir);
      if (files.length === 0) continue;
      this.root.loadSync(files, { keepCase: true });
      this.root.resolveAll();
      const loaded = this.lookup(fullName);
      if (loaded) return loaded;
    }
    return undefined;
  }

  private importsAvailable(relative: string): boolean {
    const known = this.complete.get(relative);
    if (known !== undefined) return known;
    this.complete.set(relative, true);
    const file = this.locate(relative);
    const ok =
      file !== undefined &&
      [...readFileSync(file, 'utf8').matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)].every(([, imported]) => this.importsAvailable(imported!));
    this.complete.set(relative, ok);
    return ok;
  }

  private lookup(fullName: string): protobuf.Type | undefined {
    try {
      return this.root.lookupType(fullName);
    } catch {
      return undefined;
    }
  }
}

const scalarWrappers: Record<string, string> = {
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/**
 * Checks a YAML/JSON value against an Envoy config message the way Envoy's loader would refuse it:
 * unknown fields, wrong value types, undefined enum names, more than one member of a oneof, missing
 * required oneofs and messages (protoc-gen-validate `required`), an `Any` whose `@type` is not an Envoy
 * type, and, stricter than Envoy, deprecated fields. Returns the problems, each with its path.
 */
export function validateEnvoyMessage(schema: EnvoySchema, typeName: string, value: unknown, path = '$'): string[] {
  const type = schema.type(typeName);
  if (!type) return [`${path}: unknown type ${typeName}`];
  const problems: string[] = [];
  checkMessage(schema, type, value, path, problems);
  return problems;
}

function checkMessage(schema: EnvoySchema, type: protobuf.Type, value: unknown, path: string, problems: string[]): void {
  const fullName = type.fullName.replace(/^\./, '');
  if (checkWellKnown(schema, fullName, value, path, problems)) return;
  if (!isObject(value)) {
    problems.push(`${path}: expected a ${fullName} object`);
    return;
  }
  for (const [key, fieldValue] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field) {
      problems.push(`${path}.${key}: unknown field of ${fullName}`);
      continue;
    }
    if (field.options?.deprecated) problems.push(`${path}.${key}: deprecated field of ${fullName}`);
    checkField(schema, field, fieldValue, `${path}.${key}`, problems);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => name in value);
    if (set.length > 1) problems.push(`${path}: oneof ${oneof.name} of ${fullName} has ${set.join(' and ')}`);
    if (set.length === 0 && oneof.options?.['(validate.required)']) problems.push(`${path}: oneof ${oneof.name} of ${fullName} is required`);
  }
  for (const field of type.fieldsArray) {
    // A oneof member's rule applies only when that member is the one set.
    if (field.options?.['(validate.rules).message.required'] && !field.partOf && !(field.name in value)) {
      problems.push(`${path}.${field.name}: required by ${fullName}`);
    }
  }
}

function checkField(schema: EnvoySchema, field: protobuf.Field, value: unknown, path: string, problems: string[]): void {
  if (field instanceof protobuf.MapField) {
    if (!isObject(value)) {
      problems.push(`${path}: expected a map`);
      return;
    }
    for (const [key, entry] of Object.entries(value)) checkSingle(schema, field, entry, `${path}.${key}`, problems);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) {
      problems.push(`${path}: expected a list`);
      return;
    }
    value.forEach((entry, i) => checkSingle(schema, field, entry, `${path}[${i}]`, problems));
    return;
  }
  checkSingle(schema, field, value, path, problems);
}

function checkSingle(schema: EnvoySchema, field: protobuf.Field, value: unknown, path: string, problems: string[]): void {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    const known = typeof value === 'string' ? value in resolved.values : typeof value === 'number' && Object.values(resolved.values).includes(value);
    if (!known) problems.push(`${path}: ${JSON.stringify(value)} is not a value of ${resolved.fullName.replace(/^\./, '')}`);
    return;
  }
  if (resolved instanceof protobuf.Type) {
    checkMessage(schema, resolved, value, path, problems);
    return;
  }
  checkScalar(field.type, value, path, problems);
}

function checkScalar(type: string, value: unknown, path: string, problems: string[]): void {
  const integerText = typeof value === 'string' && /^-?\d+$/.test(value);
  const ok = (() => {
    switch (type) {
      case 'string':
      case 'bytes':
        return typeof value === 'string';
      case 'bool':
        return typeof value === 'boolean';
      case 'double':
      case 'float':
        return typeof value === 'number';
      case 'uint32':
      case 'fixed32':
      case 'uint64':
      case 'fixed64':
        return (typeof value === 'number' && Number.isInteger(value) && value >= 0) || (integerText && !String(value).startsWith('-'));
      default:
        return (typeof value === 'number' && Number.isInteger(value)) || integerText;
    }
  })();
  if (!ok) problems.push(`${path}: ${JSON.stringify(value)} is not a valid ${type}`);
}

/** Handles the google.protobuf types whose JSON form is special; false when the type is not one. */
function checkWellKnown(schema: EnvoySchema, fullName: string, value: unknown, path: string, problems: string[]): boolean {
  switch (fullName) {
    case 'google.protobuf.Any': {
      if (!isObject(value) || typeof value['@type'] !== 'string') {
        problems.push(`${path}: an Any needs "@type"`);
        return true;
      }
      const url = value['@type'];
      const name = url.slice(url.lastIndexOf('/') + 1);
      const type = schema.type(name);
      if (!type) {
        problems.push(`${path}: unknown @type ${url}`);
        return true;
      }
      const { '@type': _ignored, ...rest } = value;
      checkMessage(schema, type, rest, path, problems);
      return true;
    }
    case 'google.protobuf.Duration':
      if (typeof value !== 'string' || !/^-?\d+(\.\d{1,9})?s$/.test(value)) problems.push(`${path}: ${JSON.stringify(value)} is not a duration like "1.5s"`);
      return true;
    case 'google.protobuf.Timestamp':
      if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) problems.push(`${path}: not an RFC 3339 timestamp`);
      return true;
    case 'google.protobuf.Struct':
      if (!isObject(value)) problems.push(`${path}: expected an object`);
      return true;
    case 'google.protobuf.Value':
      return true;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) problems.push(`${path}: expected a list`);
      return true;
    case 'google.protobuf.Empty':
      if (!isObject(value) || Object.keys(value).length > 0) problems.push(`${path}: expected {}`);
      return true;
  }
  const wrapped = scalarWrappers[fullName];
  if (wrapped) {
    checkScalar(wrapped, value, path, problems);
    return true;
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
