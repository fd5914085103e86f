import { ScalarType } from '@bufbuild/protobuf';
import type { DescEnum, DescField, DescMessage } from '@bufbuild/protobuf';

/**
 * Protobuf binary straight to the UTF-8 JSON bytes the reflective path (`fromBinary` + `toJson` with
 * alwaysEmitImplicit + `JSON.stringify`) produces, without building a message object, a JSON tree or
 * intermediate strings. Turning board pages of 500 tasks into JSON was half of the edge's CPU.
 *
 * Each message type is compiled once into a plan (fields in number order, JSON keys pre-encoded). Only what
 * the plain resource messages use is planned: scalars, enums, nested messages, repeated fields (packed or
 * not) and google.protobuf.Timestamp. A type that reaches anything else (oneofs, maps, proto2 groups or
 * defaults, other well-known types with a JSON form of their own, recursion) gets no plan, and the caller
 * keeps the reflective path.
 *
 * The bytes are read in one pass and written as read, so a payload is taken only when its fields come in
 * field-number order with each repeated field's items together, which is how protobuf encoders (ts-proto,
 * protobuf-es, grpc-js's) write messages. Anything else — fields out of order, a field sent twice (protobuf
 * merges or takes the last), a timestamp outside JSON's range, a malformed buffer — makes `write` return
 * undefined, and the reflective path decides, errors included. Unknown fields are skipped, as toJson does
 * when no extension matches (these messages have none).
 */
export interface ResponseJsonWriter {
  write(bytes: Uint8Array): Uint8Array | undefined;
}

const plans = new WeakMap<DescMessage, MessagePlan | null>();

/** The writer for a message type, or undefined when the type needs the reflective path. */
export function responseJsonWriter(schema: DescMessage): ResponseJsonWriter | undefined {
  const plan = planFor(schema, new Set());
  if (!plan) return undefined;
  return {
    write(bytes) {
      const reader = new WireReader(bytes);
      // JSON of a task page is ~1.7× its binary size; the buffer is not zeroed, so room to spare costs little.
      const out = new JsonOut(bytes.length * 2 + 256);
      try {
        writeMessage(plan, reader, out, bytes.length);
      } catch (error) {
        if (error instanceof NotMine) return undefined;
        throw error;
      }
      return out.result();
    },
  };
}

/** The reader met something it leaves to the reflective path. */
class NotMine extends Error {}

const TIMESTAMP = 'google.protobuf.Timestamp';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type ValueKind =
  | { kind: 'scalar'; scalar: ScalarType }
  | { kind: 'enum'; names: Map<number, Uint8Array> }
  | { kind: 'message'; plan: MessagePlan }
  | { kind: 'timestamp' };

interface FieldPlan {
  number: number;
  /** `"jsonName":` */
  key: Uint8Array;
  /** `,"jsonName":` */
  nextKey: Uint8Array;
  repeated: boolean;
  /** written only when on the wire (message fields, proto3 `optional`) */
  explicitPresence: boolean;
  value: ValueKind;
  /** written for an implicit-presence field absent from the wire (alwaysEmitImplicit) */
  zero: Uint8Array;
}

interface MessagePlan {
  fields: FieldPlan[];
  /** field number → index in `fields`, -1 for unknown numbers (field numbers here are small) */
  indexByNumber: Int32Array;
}

function planFor(schema: DescMessage, compiling: Set<DescMessage>): MessagePlan | undefined {
  const known = plans.get(schema);
  if (known !== undefined) return known ?? undefined;
  if (compiling.has(schema)) return undefined; // recursive types: rare, left to the reflective path
  if (schema.typeName.startsWith('google.protobuf.') || schema.oneofs.length > 0) {
    plans.set(schema, null);
    return undefined;
  }
  compiling.add(schema);
  const fields: FieldPlan[] = [];
  let planned = true;
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) {
    const fieldPlan = planField(field, compiling);
    if (!fieldPlan) {
      planned = false;
      break;
    }
    fields.push(fieldPlan);
  }
  compiling.delete(schema);
  const highest = fields.reduce((max, field) => Math.max(max, field.number), 0);
  if (!planned || highest > 4096) {
    if (compiling.size === 0) plans.set(schema, null);
    return undefined;
  }
  const indexByNumber = new Int32Array(highest + 1).fill(-1);
  fields.forEach((field, index) => {
    indexByNumber[field.number] = index;
  });
  const plan: MessagePlan = { fields, indexByNumber };
  plans.set(schema, plan);
  return plan;
}

const EXPLICIT = 1;
const IMPLICIT = 2;

function planField(field: DescField, compiling: Set<DescMessage>): FieldPlan | undefined {
  if (field.fieldKind === 'map' || field.oneof || field.jsonName === '__proto__') return undefined;
  if ((field as { delimitedEncoding?: boolean }).delimitedEncoding) return undefined; // proto2 groups
  let value: ValueKind | undefined;
  const repeated = field.fieldKind === 'list';
  if (field.fieldKind === 'list') {
    if (field.listKind === 'scalar') value = { kind: 'scalar', scalar: field.scalar };
    else if (field.listKind === 'enum') value = enumKind(field.enum);
    else value = messageKind(field.message, compiling);
  } else if (field.fieldKind === 'scalar') {
    if (field.getDefaultValue() !== undefined) return undefined; // proto2 defaults
    value = { kind: 'scalar', scalar: field.scalar };
  } else if (field.fieldKind === 'enum') {
    if (field.getDefaultValue() !== undefined) return undefined;
    value = enumKind(field.enum);
  } else {
    value = messageKind(field.message, compiling);
  }
  if (!value) return undefined;
  if (!repeated && field.presence !== IMPLICIT && field.presence !== EXPLICIT) return undefined; // legacy required
  const key = JSON.stringify(field.jsonName);
  return {
    number: field.number,
    key: encoder.encode(`${key}:`),
    nextKey: encoder.encode(`,${key}:`),
    repeated,
    explicitPresence: !repeated && field.presence === EXPLICIT,
    value,
    zero: encoder.encode(repeated ? '[]' : zeroText(value)),
  };
}

function enumKind(desc: DescEnum): ValueKind | undefined {
  if (desc.typeName === 'google.protobuf.NullValue') return undefined;
  return { kind: 'enum', names: new Map(desc.values.map((value) => [value.number, encoder.encode(JSON.stringify(value.jsonName))])) };
}

function messageKind(desc: DescMessage, compiling: Set<DescMessage>): ValueKind | undefined {
  if (desc.typeName === TIMESTAMP) return { kind: 'timestamp' };
  const plan = planFor(desc, compiling);
  return plan ? { kind: 'message', plan } : undefined;
}

function zeroText(value: ValueKind): string {
  switch (value.kind) {
    case 'enum': {
      const name = value.names.get(0);
      return name ? decoder.decode(name) : '0';
    }
    case 'scalar':
      switch (value.scalar) {
        case ScalarType.STRING:
        case ScalarType.BYTES:
          return '""';
        case ScalarType.BOOL:
          return 'false';
        case ScalarType.INT64:
        case ScalarType.UINT64:
        case ScalarType.SINT64:
        case ScalarType.FIXED64:
        case ScalarType.SFIXED64:
          return '"0"';
        default:
          return '0';
      }
    default:
      return '{}'; // never written: message fields have explicit presence
  }
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const QUOTE = 0x22;

function writeMessage(plan: MessagePlan, reader: WireReader, out: JsonOut, end: number): void {
  const { fields, indexByNumber } = plan;
  out.byte(OPEN_BRACE);
  let written = false;
  /** index of the first field not written yet; fields must arrive at or after it */
  let next = 0;
  /** the repeated field whose array is open, or -1 */
  let open = -1;
  while (reader.pos < end) {
    const tag = reader.varint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    const index = number < indexByNumber.length ? indexByNumber[number]! : -1;
    if (index < 0) {
      reader.skip(wireType);
      continue;
    }
    const field = fields[index]!;
    if (index === open) {
      writeItems(field, reader, out, wireType, true);
      continue;
    }
    if (open >= 0) {
      out.byte(CLOSE_BRACKET);
      open = -1;
    }
    if (index < next) throw new NotMine(); // out of order, or a field sent twice
    for (let i = next; i < index; i++) written = writeAbsent(fields[i]!, out, written);
    out.bytes(written ? field.nextKey : field.key);
    written = true;
    next = index + 1;
    if (field.repeated) {
      out.byte(OPEN_BRACKET);
      writeItems(field, reader, out, wireType, false);
      open = index;
    } else {
      writeValue(field.value, reader, out, wireType);
    }
  }
  if (reader.pos !== end) throw new NotMine();
  if (open >= 0) out.byte(CLOSE_BRACKET);
  for (let i = next; i < fields.length; i++) written = writeAbsent(fields[i]!, out, written);
  out.byte(CLOSE_BRACE);
}

function writeAbsent(field: FieldPlan, out: JsonOut, written: boolean): boolean {
  if (field.explicitPresence) return written;
  out.bytes(written ? field.nextKey : field.key);
  out.bytes(field.zero);
  return true;
}

/** One item of a repeated field, or all of a packed run; `more` when the array already has items. */
function writeItems(field: FieldPlan, reader: WireReader, out: JsonOut, wireType: number, more: boolean): void {
  const value = field.value;
  const packedType = packedWireType(value);
  if (wireType === WIRE_LEN && packedType !== undefined) {
    const length = reader.varint32();
    const packedEnd = reader.pos + length;
    if (packedEnd > reader.bytes.length) throw new NotMine();
    while (reader.pos < packedEnd) {
      if (more) out.byte(COMMA);
      writeValue(value, reader, out, packedType);
      more = true;
    }
    if (reader.pos !== packedEnd) throw new NotMine();
    return;
  }
  if (more) out.byte(COMMA);
  writeValue(value, reader, out, wireType);
}

/** The wire type of a packed item, or undefined for kinds that cannot be packed. */
function packedWireType(value: ValueKind): number | undefined {
  if (value.kind === 'enum') return WIRE_VARINT;
  if (value.kind !== 'scalar' || value.scalar === ScalarType.STRING || value.scalar === ScalarType.BYTES) return undefined;
  return scalarWireType(value.scalar);
}

function writeValue(value: ValueKind, reader: WireReader, out: JsonOut, wireType: number): void {
  switch (value.kind) {
    case 'message': {
      if (wireType !== WIRE_LEN) throw new NotMine();
      const length = reader.varint32();
      const end = reader.pos + length;
      if (end > reader.bytes.length) throw new NotMine();
      writeMessage(value.plan, reader, out, end);
      return;
    }
    case 'timestamp': {
      if (wireType !== WIRE_LEN) throw new NotMine();
      const length = reader.varint32();
      const end = reader.pos + length;
      if (end > reader.bytes.length) throw new NotMine();
      writeTimestamp(reader, out, end);
      return;
    }
    case 'enum': {
      if (wireType !== WIRE_VARINT) throw new NotMine();
      const number = reader.int32();
      const name = value.names.get(number);
      if (name) out.bytes(name);
      else out.ascii(String(number)); // an unknown value is written as its number, as toJson does
      return;
    }
    case 'scalar':
      writeScalar(value.scalar, reader, out, wireType);
  }
}

function writeScalar(scalar: ScalarType, reader: WireReader, out: JsonOut, wireType: number): void {
  if (wireType !== scalarWireType(scalar)) throw new NotMine();
  switch (scalar) {
    case ScalarType.STRING:
      writeString(reader, out);
      return;
    case ScalarType.BYTES:
      out.ascii(`"${Buffer.from(reader.lengthDelimited()).toString('base64')}"`);
      return;
    case ScalarType.BOOL:
      out.ascii(reader.varintNonZero() ? 'true' : 'false');
      return;
    case ScalarType.INT32:
      out.ascii(String(reader.int32()));
      return;
    case ScalarType.UINT32:
      out.ascii(String(reader.varint32()));
      return;
    case ScalarType.SINT32: {
      const n = reader.varint32();
      out.ascii(String((n >>> 1) ^ -(n & 1)));
      return;
    }
    case ScalarType.FIXED32:
      out.ascii(String(reader.view().getUint32(reader.advance(4), true)));
      return;
    case ScalarType.SFIXED32:
      out.ascii(String(reader.view().getInt32(reader.advance(4), true)));
      return;
    case ScalarType.FLOAT:
      out.ascii(numberText(reader.view().getFloat32(reader.advance(4), true)));
      return;
    case ScalarType.DOUBLE:
      out.ascii(numberText(reader.view().getFloat64(reader.advance(8), true)));
      return;
    case ScalarType.INT64:
      out.ascii(`"${BigInt.asIntN(64, reader.varint64())}"`);
      return;
    case ScalarType.UINT64:
      out.ascii(`"${reader.varint64()}"`);
      return;
    case ScalarType.SINT64: {
      const n = reader.varint64();
      out.ascii(`"${(n >> 1n) ^ -(n & 1n)}"`);
      return;
    }
    case ScalarType.FIXED64:
      out.ascii(`"${reader.view().getBigUint64(reader.advance(8), true)}"`);
      return;
    case ScalarType.SFIXED64:
      out.ascii(`"${reader.view().getBigInt64(reader.advance(8), true)}"`);
  }
}

/**
 * Printable ASCII without `"` or `\` is copied byte for byte, which is what JSON.stringify of the decoded
 * string gives; anything else is decoded as protobuf-es decodes (TextDecoder, replacement characters for
 * bad UTF-8) and escaped by JSON.stringify.
 */
function writeString(reader: WireReader, out: JsonOut): void {
  const length = reader.varint32();
  const start = reader.advance(length);
  const end = start + length;
  if (!out.plainString(reader.bytes, start, end)) out.utf8(JSON.stringify(decoder.decode(reader.bytes.subarray(start, end))));
}

function scalarWireType(scalar: ScalarType): number {
  switch (scalar) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_I64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_I32;
    default:
      return WIRE_VARINT;
  }
}

function numberText(value: number): string {
  if (Number.isNaN(value)) return '"NaN"';
  if (value === Infinity) return '"Infinity"';
  if (value === -Infinity) return '"-Infinity"';
  return JSON.stringify(value);
}

// The range protobuf JSON allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const SECONDS_MIN = -62_135_596_800;
const SECONDS_MAX = 253_402_300_799;

/** google.protobuf.Timestamp as toJson writes it: RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits. */
function writeTimestamp(reader: WireReader, out: JsonOut, end: number): void {
  let seconds = 0;
  let nanos = 0;
  while (reader.pos < end) {
    const tag = reader.varint32();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 1 && wireType === WIRE_VARINT) seconds = reader.int64Number();
    else if (number === 2 && wireType === WIRE_VARINT) nanos = reader.int32();
    else reader.skip(wireType);
  }
  if (reader.pos !== end) throw new NotMine();
  if (seconds < SECONDS_MIN || seconds > SECONDS_MAX || nanos < 0 || nanos > 999_999_999) throw new NotMine();
  out.byte(QUOTE);
  // A page's timestamps often share their second (a task's create and update time, tasks made together).
  if (seconds !== lastSeconds) {
    lastSeconds = seconds;
    lastDateTime = encoder.encode(utcDateTime(seconds));
  }
  out.bytes(lastDateTime);
  if (nanos > 0) {
    out.byte(0x2e);
    if (nanos % 1_000_000 === 0) out.digits(nanos / 1_000_000, 3);
    else if (nanos % 1_000 === 0) out.digits(nanos / 1_000, 6);
    else out.digits(nanos, 9);
  }
  out.byte(0x5a);
  out.byte(QUOTE);
}

let lastSeconds = Number.NaN;
let lastDateTime = new Uint8Array();

/** `YYYY-MM-DDTHH:MM:SS` of seconds since 1970 in UTC, years 1 to 9999 (as Date.toISOString writes them). */
function utcDateTime(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const inDay = seconds - days * 86_400;
  // Civil date of a day count since 1970-01-01 (proleptic Gregorian), by 400-year eras.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthIndex = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthIndex + 2) / 5) + 1;
  const month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(inDay / 3600);
  const minute = Math.floor((inDay - hour * 3600) / 60);
  const second = inDay - hour * 3600 - minute * 60;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}

/** A growing byte buffer of JSON text. */
class JsonOut {
  private buf: Uint8Array;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size); // every byte up to pos is written before it is read
  }

  result(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  private room(length: number): void {
    if (this.pos + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + length));
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  byte(value: number): void {
    this.room(1);
    this.buf[this.pos++] = value;
  }

  bytes(value: Uint8Array): void {
    this.range(value, 0, value.length);
  }

  range(source: Uint8Array, start: number, end: number): void {
    const length = end - start;
    this.room(length);
    const buf = this.buf;
    let pos = this.pos;
    if (length > 64) {
      buf.set(source.subarray(start, end), pos);
      pos += length;
    } else {
      for (let i = start; i < end; i++) buf[pos++] = source[i]!;
    }
    this.pos = pos;
  }

  /**
   * `"…"` around bytes that are printable ASCII other than `"` and `\\`, copied in the same pass that checks
   * them; false (and nothing written) when one is not.
   */
  plainString(source: Uint8Array, start: number, end: number): boolean {
    this.room(end - start + 2);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = QUOTE;
    for (let i = start; i < end; i++) {
      const byte = source[i]!;
      if (byte < 0x20 || byte > 0x7e || byte === QUOTE || byte === 0x5c) return false;
      buf[pos++] = byte;
    }
    buf[pos++] = QUOTE;
    this.pos = pos;
    return true;
  }

  /** Text known to be ASCII. */
  ascii(text: string): void {
    this.room(text.length);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }

  utf8(text: string): void {
    this.room(text.length * 3);
    this.pos += encoder.encodeInto(text, this.buf.subarray(this.pos)).written;
  }

  /** A non-negative integer, zero-padded to `width` digits. */
  digits(value: number, width: number): void {
    this.room(width);
    const buf = this.buf;
    for (let i = this.pos + width - 1; i >= this.pos; i--) {
      buf[i] = 0x30 + (value % 10);
      value = Math.floor(value / 10);
    }
    this.pos += width;
  }
}

class WireReader {
  pos = 0;
  private dataView: DataView | undefined;
  constructor(readonly bytes: Uint8Array) {}

  view(): DataView {
    return (this.dataView ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  /** Moves past `length` bytes, returning where they start. */
  advance(length: number): number {
    const start = this.pos;
    if (start + length > this.bytes.length) throw new NotMine();
    this.pos = start + length;
    return start;
  }

  /** The low 32 bits of a varint of any length, unsigned. */
  varint32(): number {
    const bytes = this.bytes;
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) throw new NotMine();
      const byte = bytes[this.pos++]!;
      if (shift < 32) result |= (byte & 0x7f) << shift;
      shift += 7;
      if ((byte & 0x80) === 0) return result >>> 0;
    }
    throw new NotMine();
  }

  int32(): number {
    return this.varint32() | 0;
  }

  varintNonZero(): boolean {
    const bytes = this.bytes;
    let nonZero = false;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) throw new NotMine();
      const byte = bytes[this.pos++]!;
      if ((byte & 0x7f) !== 0) nonZero = true;
      if ((byte & 0x80) === 0) return nonZero;
    }
    throw new NotMine();
  }

  /** An unsigned 64-bit varint. */
  varint64(): bigint {
    const bytes = this.bytes;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) throw new NotMine();
      const byte = bytes[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if ((byte & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new NotMine();
  }

  /** A signed 64-bit varint as a number; NotMine beyond ±2^53 (used for timestamp seconds only). */
  int64Number(): number {
    const bytes = this.bytes;
    let low = 0;
    let high = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= bytes.length) throw new NotMine();
      const byte = bytes[this.pos++]!;
      if (shift < 28) {
        low |= (byte & 0x7f) << shift;
      } else if (shift === 28) {
        low |= (byte & 0x0f) << 28;
        high |= (byte & 0x7f) >> 4;
      } else {
        high |= (byte & 0x7f) << (shift - 32);
      }
      shift += 7;
      if ((byte & 0x80) === 0) {
        const value = (high | 0) * 4_294_967_296 + (low >>> 0);
        if (!Number.isSafeInteger(value)) throw new NotMine();
        return value;
      }
    }
    throw new NotMine();
  }

  lengthDelimited(): Uint8Array {
    const length = this.varint32();
    const start = this.advance(length);
    return this.bytes.subarray(start, start + length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varintNonZero();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.advance(this.varint32());
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        throw new NotMine(); // groups and invalid wire types
    }
  }
}
