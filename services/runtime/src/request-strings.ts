import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import { createFileRegistry, fromBinary, ScalarType } from '@bufbuild/protobuf';
import type { DescField, DescMessage, FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { InvalidArgumentError, type FieldViolation } from './errors.ts';

/**
 * The string rule every request obeys before a handler runs, checked on the request's wire bytes against the
 * descriptor set (gen/descriptor.binpb): each string field is valid UTF-8 (so no unpaired surrogate), holds no
 * NUL (PostgreSQL refuses 0x00 in text, which made such values a 500) and stays within its byte limit.
 * Domain rules (e.g. a display name of at most 100 characters) still apply afterwards; these limits are an outer
 * bound chosen so every value a domain rule accepts fits, at 4 bytes per character.
 */
export const STRING_LIMIT_BYTES: Readonly<Record<string, number>> = {
  description: 81_920, // boards and tasks: 20,000 characters
  body: 40_960, // comments: 10,000 characters
  password: 4_096, // 1,024 characters
  new_password: 4_096,
  query: 4_096, // search: 1,000 characters
  title: 2_048, // tasks: 500 characters
  refresh_token: 2_048,
  token: 2_048,
  page_token: 2_048,
  email: 320, // RFC 5321: 64 + 1 + 255
};
/** Every other string field: resource names, ids, display names, labels, etags, request ids, mask paths. */
export const DEFAULT_STRING_LIMIT_BYTES = 1_024;

/** Nesting deeper than this is left to the decoder (no request message nests anywhere near it). */
const maxDepth = 64;

interface StringField {
  kind: 'string';
  name: string;
  repeated: boolean;
  limit: number;
}
interface MessageField {
  kind: 'message';
  name: string;
  repeated: boolean;
  plan: MessagePlan;
}
/** Map entries are messages with a key (1) and a value (2). */
interface MessagePlan {
  fields: Map<number, StringField | MessageField>;
}

export type RequestStringCheck = (bytes: Uint8Array) => FieldViolation[] | undefined;

/** The default descriptor set: the one `npm run generate` writes into the gen package. */
export function defaultDescriptorSetPath(): string {
  return fileURLToPath(import.meta.resolve('@taskmesh/gen/descriptor.binpb'));
}

/** Reads a FileDescriptorSet (`buf build -o x.binpb`). */
export function readDescriptorSet(path = defaultDescriptorSetPath()): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(path)));
}

let defaultChecks: Map<string, RequestStringCheck> | undefined;

/** The checks of the default descriptor set, compiled once per process (several servers share the embedded one). */
export function defaultRequestStringChecks(): Map<string, RequestStringCheck> {
  return (defaultChecks ??= compileRequestStringChecks(readDescriptorSet()));
}

/**
 * One check per RPC of the registry, by gRPC path (`/pkg.Service/Method`); RPCs whose request holds no string
 * anywhere get none.
 */
export function compileRequestStringChecks(registry: FileRegistry): Map<string, RequestStringCheck> {
  const plans = new Map<string, MessagePlan | null>();
  const checks = new Map<string, RequestStringCheck>();
  for (const file of registry.files) {
    for (const service of file.services) {
      for (const method of service.methods) {
        const plan = planOf(method.input, plans, new Set());
        if (plan) checks.set(`/${service.typeName}/${method.name}`, (bytes) => checkMessage(plan, bytes));
      }
    }
  }
  return checks;
}

/** A message's plan, or null when no string is reachable from it (memoised; recursion-safe). */
function planOf(message: DescMessage, plans: Map<string, MessagePlan | null>, visiting: Set<string>): MessagePlan | null {
  const known = plans.get(message.typeName);
  if (known !== undefined) return known;
  if (visiting.has(message.typeName)) return { fields: new Map() };
  visiting.add(message.typeName);
  const plan: MessagePlan = { fields: new Map() };
  // Registered before the fields so a recursive type reaches this very plan.
  plans.set(message.typeName, plan);
  for (const field of message.fields) {
    const entry = fieldPlan(field, plans, visiting);
    if (entry) plan.fields.set(field.number, entry);
  }
  visiting.delete(message.typeName);
  if (plan.fields.size === 0) {
    plans.set(message.typeName, null);
    return null;
  }
  return plan;
}

function fieldPlan(field: DescField, plans: Map<string, MessagePlan | null>, visiting: Set<string>): StringField | MessageField | undefined {
  const limit = STRING_LIMIT_BYTES[field.name] ?? DEFAULT_STRING_LIMIT_BYTES;
  switch (field.fieldKind) {
    case 'scalar':
      return field.scalar === ScalarType.STRING ? { kind: 'string', name: field.name, repeated: false, limit } : undefined;
    case 'list':
      if (field.listKind === 'scalar') return field.scalar === ScalarType.STRING ? { kind: 'string', name: field.name, repeated: true, limit } : undefined;
      if (field.listKind === 'message') {
        const plan = planOf(field.message, plans, visiting);
        return plan ? { kind: 'message', name: field.name, repeated: true, plan } : undefined;
      }
      return undefined;
    case 'message': {
      const plan = planOf(field.message, plans, visiting);
      return plan ? { kind: 'message', name: field.name, repeated: false, plan } : undefined;
    }
    case 'map': {
      const entry: MessagePlan = { fields: new Map() };
      if (field.mapKey === ScalarType.STRING) entry.fields.set(1, { kind: 'string', name: 'key', repeated: false, limit });
      if (field.mapKind === 'scalar' && field.scalar === ScalarType.STRING) entry.fields.set(2, { kind: 'string', name: 'value', repeated: false, limit });
      if (field.mapKind === 'message') {
        const plan = planOf(field.message, plans, visiting);
        if (plan) entry.fields.set(2, { kind: 'message', name: 'value', repeated: false, plan });
      }
      return entry.fields.size > 0 ? { kind: 'message', name: field.name, repeated: true, plan: entry } : undefined;
    }
    default:
      return undefined;
  }
}

function checkMessage(plan: MessagePlan, bytes: Uint8Array): FieldViolation[] | undefined {
  const violations: FieldViolation[] = [];
  walk(plan, bytes, 0, bytes.length, '', 0, violations);
  return violations.length > 0 ? violations : undefined;
}

/**
 * Walks the wire format of one message between start and end. Malformed bytes end the walk quietly: the
 * decoder that runs next refuses them.
 */
function walk(plan: MessagePlan, bytes: Uint8Array, start: number, end: number, prefix: string, depth: number, out: FieldViolation[]): void {
  if (depth > maxDepth) return;
  const counts = new Map<number, number>();
  let pos = start;
  while (pos < end) {
    const tag = readVarint(bytes, pos, end);
    if (!tag) return;
    pos = tag.next;
    const fieldNumber = Math.floor(tag.value / 8);
    const wireType = tag.value & 7;
    if (wireType === 0) {
      const skipped = readVarint(bytes, pos, end);
      if (!skipped) return;
      pos = skipped.next;
    } else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = readVarint(bytes, pos, end);
      if (!length || length.next + length.value > end) return;
      const from = length.next;
      const to = from + length.value;
      pos = to;
      const field = plan.fields.get(fieldNumber);
      if (!field) continue;
      const index = counts.get(fieldNumber) ?? 0;
      counts.set(fieldNumber, index + 1);
      const path = `${prefix}${field.name}${field.repeated ? `[${index}]` : ''}`;
      if (field.kind === 'message') walk(field.plan, bytes, from, to, `${path}.`, depth + 1, out);
      else {
        const problem = stringProblem(bytes.subarray(from, to), field.limit);
        if (problem) out.push({ field: path, description: problem });
      }
    } else return; // groups (3, 4) are not used by proto3; anything else is malformed
  }
}

function stringProblem(value: Uint8Array, limit: number): string | undefined {
  if (value.length > limit) return `must be at most ${limit} bytes (UTF-8); got ${value.length}`;
  if (value.includes(0)) return 'must not contain NUL (U+0000) characters';
  if (!isUtf8(value)) return 'must be valid UTF-8 (no unpaired surrogates)';
  return undefined;
}

function readVarint(bytes: Uint8Array, pos: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 10 && pos < end; i++) {
    const byte = bytes[pos++]!;
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return { value, next: pos };
    multiplier *= 128;
  }
  return undefined;
}

/** What a checked deserializer hands the method instead of a request that breaks the string rule. */
export class RejectedRequest {
  constructor(readonly violations: FieldViolation[]) {}
}

/**
 * The service definition with each method's request deserializer preceded by its check; a failing request
 * deserializes to a RejectedRequest, which bindService answers with INVALID_ARGUMENT before anything else runs.
 */
export function withRequestStringChecks<D extends ServiceDefinition>(definition: D, checks: ReadonlyMap<string, RequestStringCheck>): D {
  const checked: Record<string, unknown> = {};
  for (const [key, method] of Object.entries(definition)) {
    const check = checks.get(method.path);
    if (!check) {
      checked[key] = method;
      continue;
    }
    const deserialize = method.requestDeserialize;
    checked[key] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const violations = check(bytes);
        return violations ? new RejectedRequest(violations) : deserialize(bytes);
      },
    };
  }
  return checked as D;
}

/** Throws INVALID_ARGUMENT (a BadRequest naming each field) for a request the string check refused. */
export function rejectInvalidRequest(request: unknown): void {
  if (request instanceof RejectedRequest) throw new InvalidArgumentError(request.violations);
}
